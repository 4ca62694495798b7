FROM busybox
RUN python3 <<EOF > /out.txt
print("hi")
EOF
ADD --chmod=755 <<run.sh /usr/local/bin/
#!/bin/sh
echo run
run.sh
