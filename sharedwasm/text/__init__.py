"""L1: the text format (spec chapter 6) and the .wast script format."""
