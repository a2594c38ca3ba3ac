"""Development-only tools: made-up data to try the service at volume. Production never imports them."""
