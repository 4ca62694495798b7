FROM busybox
EXPOSE 80
CMD ["busybox", "httpd", "-f", "-p", "80"]
