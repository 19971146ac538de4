"""Email between users and customers, imported onto the records it concerns (README, "Email on
records"): ``parse`` reads a raw message, ``imports`` stores it once and links it, ``logging``
takes mail BCC'd or forwarded to a user's logging address."""
