FROM busybox
RUN <<"EOF"
echo $NOT_EXPANDED
EOF
COPY <<'END' /etc/motd
Hello $USER
END
