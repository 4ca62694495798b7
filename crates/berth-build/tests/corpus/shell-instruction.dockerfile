FROM busybox
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN echo piped | cat
