FROM busybox
COPY <<a <<b /dst/
first file
a
second file
b
RUN <<one cat > /x && <<two cat > /y
1
one
2
two
