FROM busybox
FROM busybox IS name
