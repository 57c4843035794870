"""Building blocks of the end-to-end suite and of `make demo`.

Each module owns one concept: the local AWS endpoint (aws), the provider
process (provider), the driver-like gRPC client (driver), the driver's file
writer (writer), target mounts (mounts), protocol stubs (protos) and loopback
ports (net). Tests and the demo both import from here; nothing is copied.
"""
