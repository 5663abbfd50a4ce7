// PostGraphile 5 over the product's rollup tables: the read bench's peer (bench/postgraphile.py
// starts it). It exposes only the schema PEER_SCHEMA, whose functions read public.counters_daily;
// every request runs in one transaction scoped like the product's (the tenant in
// analytics.tenant_id, the app role bound by row-level security), the tenant taken from the bearer
// key the bench passes in PEER_KEYS ("key=tenant,...", compared in memory, as a JWT would be).
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
};
const port = Number(env("PEER_PORT"));
const tenants = new Map(env("PEER_KEYS").split(",").map((pair) => pair.split("=")));

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: env("PEER_DATABASE_URL"),
      schemas: [env("PEER_SCHEMA")],
      poolConfig: { max: Number(process.env.PEER_POOL_SIZE || 8), options: `-c role=${env("PEER_ROLE")}` },
    }),
  ],
  grafast: {
    explain: false,
    context(requestContext) {
      const header = requestContext.http?.getHeader("authorization") ?? "";
      const tenant = tenants.get(header.replace(/^Bearer\s+/i, ""));
      // No key, or an unknown one: the transaction sees no tenant's rows (as the product's would not).
      return { pgSettings: { "analytics.tenant_id": tenant ?? "" } };
    },
  },
  grafserv: { port, graphqlPath: "/graphql", graphiql: false, watch: false, maskError: (e) => e },
};

const instance = postgraphile(preset);
const serv = instance.createServ(grafserv);
const server = createServer();
server.keepAliveTimeout = 65_000;
await serv.addTo(server);
server.listen(port, "127.0.0.1", () => console.log(`peer listening on ${port}`));
const stop = async () => {
  server.close();
  await instance.release();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
