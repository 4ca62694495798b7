FROM busybox
WORKDIR c:\\windows
ENV P=c:\\temp Q="c:\x"
