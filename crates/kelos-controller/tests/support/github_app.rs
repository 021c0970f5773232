//! The test GitHub App: its ids, a throwaway key pair generated for these tests only, and a
//! fake GitHub (kelos-fake-github) that knows it. Shared by tests/github_app.rs and, through
//! task_support, the Task controller tests.
#![allow(dead_code)]

use kelos_fake_github::FakeGitHub;

pub const APP_ID: u64 = 4242;
pub const INSTALLATION_ID: u64 = 777;

/// The App's private key, PKCS#8 (tests/github_app.rs has the same key as PKCS#1).
pub const APP_KEY_PKCS8: &str = r"-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDWQuM37GBEufAh
i5yjPJj54nrpoKq8zuCbbZUd35rtnecHjZ7PTOUjYBA099GMtazFldWp9umg4vDu
K7D5AVi/rTdkgpYGzWYI0Av+aaDLyEgMkYp4JjqwaQm91NuqR9DDIi1Bg+6uj8io
cjukkNfN5sFZMjkbJ/xa1pJ70vXWUMS5RbvTrCmj8WlceGB5Rferjfh3mDCkg5mM
f8r44qvvvCo7n1otHjAhTOouS5VRpfUPnt9v6YPzBC70in2g9kTXBZK5WX6QWy3M
ADWp4O+904zqdJ9jnPIywPbQzZIKH0seHUHs3yZNP1oYJxSBLSlDmtqgSHJWk0YL
5cA1aX1zAgMBAAECggEADkVThNitHakGx600Nf24MK93QVMOt6CEtWoTcLxvCnhv
SoGSDoTG+yD9fsiF7bwbKFYqt4eShVOM1P8WakUaVczPy1WCcHWwzb9RrAuMBrIb
h4x9ysWYgYtVd0UBQfKQJ2ldaQLEgRU+J7BRP17YWyH7IdCLCr9baMZVxBTZ8aWZ
A+GRyeDQ59HrRUY0Q9xCWeJVp45R6vtPoGh8MTY7rFzQ3Hmpf74HXgCkz/esw7sb
8HEcfNsbf2IsJs/RWRC6nUdA3aRhgjr8Z5tqPnLwkbCRnp7HcZuhI949gKlMld/7
GjOQwKA8cUgyHtQDpyqV2wA23mCKmi6h+XIOyCcneQKBgQD2moXcmLvTHoOCxYNX
bCx0DXhGn2nGClV8H0LwXEqnGigRIwCaOGl1/kd+5HnE8Hh8ZDfRClGQuGLfLqdF
OLepktchDfDCXyHGvGtTox7CLspQXNNFSctNnQryDNQBI7GBc8i5qIdErU1yTGaE
5K9GmvbFip2rGA/uqbUocudtGQKBgQDebOJAFuXnLfeOvcduNtAzbPLDhCy0YTYz
shdwfYLKhDS2MgeiQJ1wCtlz6mJg9IHa3yBoM1Ku/12HqjUzM+wiMUzvt6B3Z6qD
TF4aOQZ52OG9hkWT3vdWsExAX7Drw5ajEaHE9+WoSZues/8NBbZMd1THHsIvGp2O
UJbrTZ6EawKBgQC0ENTZ5TSQzeEdZfenqDc1bnh6qQBlOTp+bZ1FQT7JkZHcIYDZ
G4P2QnwWLeK0aRqxScRwAWbZk6muabR+GRIS4kPvwOwiIbDaGs8LvTpCdEQKNh2W
pHGs9JT/dVqAkn2UluTknChZf2njoeHh+9H4bkLur269dc58aLL9HBncUQKBgQCD
6CrdOzcovJf9rQqikBs1BD2MOcyRRL1yNwGzkpuIIpNoIY9pZ8x2b9i555xkR1zj
QkPjx9wXMBZ1qDlYnkhBlt87orilV3NF3npILt1qUXa+gOyuXyJr5K2z14wCpcGl
/4TiXOlzvgNuQOzW+jY8buB2HgWnDa+2gJCgBy4k9QKBgQCc36KJ2T0jNMM0CJgq
wQK8iSasuHWDiB3vv3zlujB9N1M0QrLApC2GaGx1f0Ij6EDZMn8mSWLcIpjXw/dt
wrorjgvSQ5fKchEuHiTvqA4STrUU0sctg2fbQ0xNpJgfAeqyA2Xh+PzPYhBWCgb1
0udLDVITb4uO+FVrpgdKzWWNKA==
-----END PRIVATE KEY-----";
/// The public half, as registered with GitHub.
pub const APP_PUBLIC_KEY: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1kLjN+xgRLnwIYucozyY
+eJ66aCqvM7gm22VHd+a7Z3nB42ez0zlI2AQNPfRjLWsxZXVqfbpoOLw7iuw+QFY
v603ZIKWBs1mCNAL/mmgy8hIDJGKeCY6sGkJvdTbqkfQwyItQYPuro/IqHI7pJDX
zebBWTI5Gyf8WtaSe9L11lDEuUW706wpo/FpXHhgeUX3q434d5gwpIOZjH/K+OKr
77wqO59aLR4wIUzqLkuVUaX1D57fb+mD8wQu9Ip9oPZE1wWSuVl+kFstzAA1qeDv
vdOM6nSfY5zyMsD20M2SCh9LHh1B7N8mTT9aGCcUgS0pQ5raoEhyVpNGC+XANWl9
cwIDAQAB
-----END PUBLIC KEY-----";

/// Registers the App and its installation with `gh`.
pub fn register_app(gh: &FakeGitHub) {
    gh.register_app(APP_ID, "kelos-test-app", Some(APP_PUBLIC_KEY));
    gh.add_installation(INSTALLATION_ID, APP_ID);
}

/// A fake GitHub on 127.0.0.1 that knows the App.
pub async fn fake_github_with_app() -> FakeGitHub {
    let gh = FakeGitHub::start().await;
    register_app(&gh);
    gh
}

/// The data of a Secret for the App and `installation_id` (kelos reads these three keys).
pub fn app_secret_data(installation_id: &str) -> [(&str, &str); 3] {
    [
        ("appID", "4242"),
        ("installationID", installation_id),
        ("privateKey", APP_KEY_PKCS8),
    ]
}
