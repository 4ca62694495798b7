FROM busybox
FROM a \
  b \
  c \
  d
