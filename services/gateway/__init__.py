"""The HTTP gateway: storefronts, back offices and the Dashboard over HTTP, on the topics."""
