# The hub for deployments against a PostgreSQL server (see docker-compose.yml).
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# A young generation of 8 MB semi-spaces: Node 24 sizes it from the machine's memory, larger than the hub needs, and
# pays for it in resident memory (README, How it is built).
ENV NODE_OPTIONS=--max-semi-space-size=8
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY drizzle ./drizzle
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/tillbridge.js", "serve"]
