FROM debian:bookworm
RUN apt-get update -qqy
RUN apt-get install -qqy cowsay
ENV MESSAGE "nothing to say"
CMD sh -c "/usr/games/cowsay $MESSAGE"
