FROM busybox
CMD ["echo", "\"quoted\"", "tab\there", "uni\u00e9"]
RUN [ "sh", "-c", "echo $HOME" ]
CMD ["unterminated"
