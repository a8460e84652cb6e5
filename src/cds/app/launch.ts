/**
 * Browser: the SMART EHR launch (and standalone launch for the coordinator). fhirclient does the
 * discovery at iss/.well-known/smart-configuration and the authorization code flow with PKCE S256,
 * state and aud; this page only says who the app is and where to come back.
 */
import FHIR from 'fhirclient';

const params = new URLSearchParams(window.location.search);
const target = document.body.dataset.target ?? 'page';
const launch = params.get('launch');
FHIR.oauth2.authorize({
  clientId: document.body.dataset.clientId ?? 'khe-trial-page',
  scope: target === 'coordinator' ? 'openid fhirUser user/*.read' : `launch openid fhirUser patient/*.read`,
  redirectUri: `/app/${target}`,
  ...(params.get('iss') ? { iss: params.get('iss') as string } : {}),
  ...(launch ? { launch } : {}),
  pkceMode: 'required',
});
