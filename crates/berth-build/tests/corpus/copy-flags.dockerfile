FROM busybox AS b
FROM busybox
COPY --from=b --chown=1000:1000 --chmod=0640 --link /a /b /c/
COPY --parents --exclude=*.md --exclude=tmp/ ./src/ /app/
COPY ["with space.txt", "/dst dir/"]
COPY --link=false a b
COPY -- --weird /x
