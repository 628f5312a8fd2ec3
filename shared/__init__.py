"""What every service uses: settings, envelope codec, inbox, outbox, relay, dead letters."""
