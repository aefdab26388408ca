# The torale image: nothing but the static binary (`make static` builds dist/torale), so other
# images can take it with `COPY --from=torale /torale /usr/local/bin/torale`.
FROM scratch
COPY dist/torale /torale
ENTRYPOINT ["/torale"]
