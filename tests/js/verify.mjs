// Usage: node verify.mjs <jwks url> <issuer> <audience> <token>
// Prints the verified payload and header as JSON, or {"error": ...} with exit code 1.
import { createRemoteJWKSet, jwtVerify } from "jose";

const [jwksUrl, issuer, audience, token] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl));
try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer, audience, typ: "at+jwt", algorithms: ["ES256", "RS256"],
  });
  console.log(JSON.stringify({ payload, protectedHeader }));
} catch (err) {
  console.log(JSON.stringify({ error: err.code || String(err) }));
  process.exit(1);
}
