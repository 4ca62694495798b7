FROM busybox
RUN apt-get update \
# this comment is skipped
    && apt-get install -y \
    # so is this one, indented
    curl
