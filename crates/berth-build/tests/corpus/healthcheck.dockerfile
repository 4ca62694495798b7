FROM busybox
HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=2s --retries=5 CMD ["wget", "-q", "localhost"]
HEALTHCHECK CMD curl -f http://localhost/ || exit 1
HEALTHCHECK none
