"""Protocol decoders (issue 13): the interface in api.py, one module per protocol."""
