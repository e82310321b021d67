// flopd's TLS material (--tls-cert, --tls-key, --tls-client-ca), loaded
// from files and reloadable: checked at start, so a bad file is one clear
// startup error (gRPC's own certificate watcher would only log it), and
// installed into the HTTPS listener's OpenSSL context so that every new
// connection uses what was loaded last (Reload() on SIGHUP). The gRPC
// listener reads the same files through gRPC's FileWatcherCertificateProvider.
//
// Thread-safe: handshakes read the material while Reload() replaces it.
#ifndef FLOPD_SERVER_AUTH_TLS_FILES_H_
#define FLOPD_SERVER_AUTH_TLS_FILES_H_

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace flopd {

struct TlsPaths {
  std::string certificate;  // PEM: the server's certificate, then its chain
  std::string private_key;  // PEM
  std::string client_ca;    // PEM; empty = client certificates are not asked for
};

class TlsFiles {
 public:
  // Loads and checks the files: readable PEM, the key matches the
  // certificate, the CA file holds at least one certificate.
  // INVALID_ARGUMENT naming the flag and the file otherwise.
  static absl::StatusOr<std::unique_ptr<TlsFiles>> Load(const TlsPaths& paths);
  ~TlsFiles();

  const TlsPaths& paths() const { return paths_; }
  bool requires_client_certificates() const { return !paths_.client_ca.empty(); }
  // "CN=flopd.example, expires 2027-11-30" of the certificate in use.
  std::string Describe() const;

  // Reads the files again; on an error the material in use is kept.
  absl::Status Reload();

  // Makes `context` (a server SSL_CTX) take its certificate, key and, with
  // a client CA, its client verification from this object at every
  // handshake, TLS 1.2 at least. `this` must outlive the context's use.
  bool ConfigureServerContext(ssl_ctx_st* context);

  struct Material;

 private:
  explicit TlsFiles(TlsPaths paths) : paths_(std::move(paths)) {}
  std::shared_ptr<const Material> current() const;

  const TlsPaths paths_;
  mutable std::mutex mu_;
  std::shared_ptr<const Material> material_;  // guarded by mu_
};

// The common name of a peer certificate's subject (for HTTPS requests;
// gRPC's auth context gives its own), or empty.
std::string PeerCommonName(const void* ssl);

}  // namespace flopd

#endif  // FLOPD_SERVER_AUTH_TLS_FILES_H_
