FROM busybox
EXPOSE 80/http
