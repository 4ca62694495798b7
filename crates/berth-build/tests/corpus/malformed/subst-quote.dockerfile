FROM busybox
ENV A="unclosed
