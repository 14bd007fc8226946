"""L5: the public surface of the JS API, in Python spelling."""
