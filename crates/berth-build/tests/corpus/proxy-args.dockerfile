# build-arg: http_proxy=http://proxy:3128
# build-arg: UNDECLARED=x
FROM busybox
ENV p=$http_proxy u=$UNDECLARED n=$no_proxy
