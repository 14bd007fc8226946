"""L2: validation (spec chapter 3)."""
