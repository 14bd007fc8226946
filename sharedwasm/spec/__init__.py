"""L0: plain data shared by every layer: the instruction table, types and the module AST."""
