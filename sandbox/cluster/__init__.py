"""Scale-out: work dispatch over Redis Streams, the worker, and the local cluster for development and tests."""
