"""ZGOSSIP: czmq's gossip protocol (spec/zgossip.md): codec, sans-IO service core."""
