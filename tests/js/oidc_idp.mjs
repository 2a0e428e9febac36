// A real OpenID provider (npm oidc-provider) for tests/test_federation*.py.
// usage: node oidc_idp.mjs PORT CLIENTS_JSON   (CLIENTS_JSON: [{client_id, client_secret, redirect_uris}])
// Every client must use PKCE. The dev login form takes any account id as `login`: the account's
// claims follow from it ("alice" -> alice@idp.test, verified; "noemail-*" -> no email at all;
// "unverified-*" -> an email the provider did not verify).
import Provider from 'oidc-provider';

const [port, clientsJson] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(clientsJson).map((c) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...c,
}));

function claimsOf(id) {
  const claims = { sub: id, name: `Name of ${id}`, preferred_username: id };
  if (!id.startsWith('noemail-')) {
    claims.email = `${id}@idp.test`;
    claims.email_verified = !id.startsWith('unverified-');
  }
  return claims;
}

const provider = new Provider(issuer, {
  clients,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
  conformIdTokenClaims: false,
  cookies: { keys: ['custos-test-cookie-key'] },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => claimsOf(id) }),
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = provider.listen(Number(port), '127.0.0.1', () => {
  console.log(JSON.stringify({ issuer }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
