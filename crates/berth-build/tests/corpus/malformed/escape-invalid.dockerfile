# escape=/
FROM busybox
