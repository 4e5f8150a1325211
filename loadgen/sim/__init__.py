"""The charger core: the sans-I/O charge point, the WebSocket codec, the engine that drives
them from gevent's hub, and the transport that opens sockets. Never imports Locust."""
