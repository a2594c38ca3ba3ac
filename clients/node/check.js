// Calls easygeoip through MaxMind's official Node client and prints what the client made of
// each answer, as JSON, for lookups/tests/web/test_webservice_clients.py to assert on.
//
// Usage: EASYGEOIP_HOST=127.0.0.1:8443 EASYGEOIP_ACCOUNT_ID=... EASYGEOIP_LICENSE_KEY=... \
//        NODE_EXTRA_CA_CERTS=ca.pem node check.js '[["city", "81.2.69.142"], ["country", "..."]]'
'use strict';

const { WebServiceClient } = require('@maxmind/geoip2-node');

async function main() {
  const client = new WebServiceClient(
    process.env.EASYGEOIP_ACCOUNT_ID,
    process.env.EASYGEOIP_LICENSE_KEY,
    { host: process.env.EASYGEOIP_HOST, timeout: 10000 },
  );
  const answers = [];
  for (const [service, ipAddress] of JSON.parse(process.argv[2])) {
    try {
      answers.push({ model: await client[service](ipAddress) });
    } catch (error) {
      // The client rejects with {code, error, status, url}; anything else is a bug to show.
      answers.push({ error: error && error.code ? error : { code: 'UNEXPECTED', error: String(error) } });
    }
  }
  process.stdout.write(JSON.stringify(answers));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
