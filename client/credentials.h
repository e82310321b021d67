// How flopctl proves who it is and checks whom it talks to, for every host
// it dials (docs/SECURITY.md): TLS with a CA to verify the daemons, an
// optional client certificate (mutual TLS), and a bearer token. Taken from
// flags that any command accepts, or from the environment, so that a token
// never has to be on a command line (where `ps` shows it):
//
//   --tls-ca FILE     / FLOPD_TLS_CA     TLS, verifying the daemon against FILE
//   --tls             / FLOPD_TLS=1      TLS, verifying against the system's roots
//   --tls-cert FILE   / FLOPD_TLS_CERT   a client certificate (with --tls-key)
//   --tls-key FILE    / FLOPD_TLS_KEY
//   --tls-server-name NAME / FLOPD_TLS_SERVER_NAME  the name the daemons'
//                       certificate must carry, instead of the dialed host
//                       (dns:NAME discovery dials pods by IP)
//   --token-file FILE / FLOPD_TOKEN_FILE the bearer token, read from FILE
//                       FLOPD_TOKEN      the bearer token itself
//
// Flags win over the environment. A token is sent over TLS, or in the clear
// only to a loopback address or a Unix socket (unix:PATH); to any other
// host without TLS flopctl refuses to send it.
#ifndef FLOPD_CLIENT_CREDENTIALS_H_
#define FLOPD_CLIENT_CREDENTIALS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flopd {

struct ClientCredentials {
  bool tls = false;
  std::string ca_pem;           // empty with tls: the system's roots
  std::string certificate_pem;  // client certificate chain, or empty
  std::string key_pem;
  std::string server_name;      // empty = the host as dialed
  std::string token;            // empty = none
};

// Removes the credential flags above from `args` (wherever they are) and
// completes them from the environment (`getenv`, replaceable for tests).
// INVALID_ARGUMENT naming the flag or variable for an unreadable file, a
// certificate without its key, or an empty token file.
absl::StatusOr<ClientCredentials> TakeCredentials(
    std::vector<std::string>* args,
    const std::function<const char*(const char*)>& getenv_fn = nullptr);

// The lines `flopctl --help` shows for them.
const char* CredentialsHelp();

// The credentials every HostClient uses; set once, before any is made.
void SetClientCredentials(ClientCredentials credentials);
const ClientCredentials& CurrentClientCredentials();

}  // namespace flopd

#endif  // FLOPD_CLIENT_CREDENTIALS_H_
