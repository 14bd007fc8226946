"""L1: the binary format (spec chapter 5): LEB128, decoding and encoding modules."""
