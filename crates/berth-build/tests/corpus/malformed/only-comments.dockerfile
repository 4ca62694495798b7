# syntax=docker/dockerfile:1
# nothing else
