#include "server/auth/tls_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"

namespace flopd {

struct TlsFiles::Material {
  X509* certificate = nullptr;
  STACK_OF(X509)* chain = nullptr;  // the certificates after the first
  EVP_PKEY* key = nullptr;
  X509_STORE* client_ca = nullptr;
  STACK_OF(X509_NAME)* client_ca_names = nullptr;  // sent in the certificate request

  Material() = default;
  Material(const Material&) = delete;
  Material& operator=(const Material&) = delete;
  ~Material() {
    X509_free(certificate);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    X509_STORE_free(client_ca);
    sk_X509_NAME_pop_free(client_ca_names, X509_NAME_free);
  }
};

namespace {

// OpenSSL's last error, for a message, or "".
std::string OpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return absl::StrCat(" (", text, ")");
}

struct BioCloser {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Bio = std::unique_ptr<BIO, BioCloser>;

absl::StatusOr<Bio> Open(const std::string& path, const char* flag) {
  Bio bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path, OpenSslError()));
  }
  return bio;
}

absl::StatusOr<std::shared_ptr<TlsFiles::Material>> ReadMaterial(const TlsPaths& paths) {
  auto material = std::make_shared<TlsFiles::Material>();
  {
    absl::StatusOr<Bio> bio = Open(paths.certificate, "--tls-cert");
    if (!bio.ok()) return bio.status();
    material->certificate = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr);
    if (material->certificate == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls-cert: ", paths.certificate, " holds no PEM certificate", OpenSslError()));
    }
    material->chain = sk_X509_new_null();
    while (X509* next = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr)) {
      sk_X509_push(material->chain, next);
    }
    ERR_clear_error();  // the end of the file
  }
  {
    absl::StatusOr<Bio> bio = Open(paths.private_key, "--tls-key");
    if (!bio.ok()) return bio.status();
    material->key = PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr);
    if (material->key == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls-key: ", paths.private_key, " holds no PEM private key (an encrypted key is not "
          "supported)", OpenSslError()));
    }
  }
  if (X509_check_private_key(material->certificate, material->key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("--tls-key: ", paths.private_key,
                                                   " is not the key of the certificate in ",
                                                   paths.certificate));
  }
  if (!paths.client_ca.empty()) {
    material->client_ca_names = SSL_load_client_CA_file(paths.client_ca.c_str());
    material->client_ca = X509_STORE_new();
    if (material->client_ca_names == nullptr ||
        sk_X509_NAME_num(material->client_ca_names) == 0 ||
        X509_STORE_load_file(material->client_ca, paths.client_ca.c_str()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls-client-ca: ", paths.client_ca, " holds no readable PEM certificate",
          OpenSslError()));
    }
  }
  return material;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsFiles>> TlsFiles::Load(const TlsPaths& paths) {
  auto files = std::unique_ptr<TlsFiles>(new TlsFiles(paths));
  absl::StatusOr<std::shared_ptr<Material>> material = ReadMaterial(paths);
  if (!material.ok()) return material.status();
  files->material_ = *std::move(material);
  return files;
}

TlsFiles::~TlsFiles() = default;

std::shared_ptr<const TlsFiles::Material> TlsFiles::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return material_;
}

absl::Status TlsFiles::Reload() {
  absl::StatusOr<std::shared_ptr<Material>> material = ReadMaterial(paths_);
  if (!material.ok()) return material.status();
  std::lock_guard<std::mutex> lock(mu_);
  material_ = *std::move(material);
  return absl::OkStatus();
}

std::string TlsFiles::Describe() const {
  const std::shared_ptr<const Material> material = current();
  char name[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(material->certificate), NID_commonName, name,
                            sizeof(name) - 1);
  std::string expires;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    ASN1_TIME_print(bio, X509_get0_notAfter(material->certificate));
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    expires.assign(data, static_cast<size_t>(size));
    BIO_free(bio);
  }
  return absl::StrCat("CN=", name, ", valid until ", expires);
}

bool TlsFiles::ConfigureServerContext(ssl_ctx_st* context) {
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_options(context, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Every handshake starts here: the certificate, key and client
  // verification of the material loaded last.
  SSL_CTX_set_client_hello_cb(
      context,
      [](SSL* ssl, int* alert, void* arg) -> int {
        const std::shared_ptr<const Material> material = static_cast<TlsFiles*>(arg)->current();
        if (SSL_use_certificate(ssl, material->certificate) != 1 ||
            SSL_use_PrivateKey(ssl, material->key) != 1 ||
            SSL_set1_chain(ssl, material->chain) != 1) {
          ERR_clear_error();
          *alert = SSL_AD_INTERNAL_ERROR;
          return SSL_CLIENT_HELLO_ERROR;
        }
        if (material->client_ca != nullptr) {
          SSL_set1_verify_cert_store(ssl, material->client_ca);
          SSL_set_client_CA_list(ssl, SSL_dup_CA_list(material->client_ca_names));
          SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        }
        return SSL_CLIENT_HELLO_SUCCESS;
      },
      this);
  // The first material on the context itself too, so that nothing depends
  // on the callback for a handshake to have a certificate at all.
  const std::shared_ptr<const Material> material = current();
  return SSL_CTX_use_certificate(context, material->certificate) == 1 &&
         SSL_CTX_use_PrivateKey(context, material->key) == 1;
}

std::string PeerCommonName(const void* ssl_pointer) {
  SSL* ssl = const_cast<SSL*>(static_cast<const SSL*>(ssl_pointer));
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return "";
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (peer == nullptr) return "";
  char name[256] = {0};
  const int length = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name,
                                               sizeof(name) - 1);
  X509_free(peer);
  return length > 0 ? std::string(name, static_cast<size_t>(length)) : "";
}

}  // namespace flopd
