/*
 * @mlstls/crypto-native: the record AEADs of mlstls on the OpenSSL that Node links (Node-API,
 * plain C). One EVP_CIPHER_CTX per key and direction, keyed once: a record sets only its nonce,
 * then seals into or opens from memory the caller owns. No cipher object, no output buffer and
 * no copy per record, which is what node:crypto costs (tools/bench/README.md).
 *
 * The key bytes stay in this addon's memory (to key the second direction's context if it is
 * ever used) until destroy() or garbage collection erases them with OPENSSL_cleanse and frees
 * the contexts (EVP_CIPHER_CTX_free cleanses the key schedules).
 */
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TAG_LENGTH 16
#define NONCE_LENGTH 12
/*
 * What a key holds outside V8, as told to V8 (napi_adjust_external_memory): the struct, and
 * about this much per OpenSSL context. Without it V8 sees a few bytes per key and collects the
 * finalizers of a key_update flood late, while the process grows.
 */
#define CONTEXT_COST 1024

/* Marks the externals this addon made: no other addon's external is ever taken for a key. */
static const napi_type_tag KEY_TAG = {0x6d6c7374c15a4e41ULL, 0x4541444b45590001ULL};

typedef struct {
  const EVP_CIPHER *cipher;
  unsigned char key[32];
  int key_length;
  EVP_CIPHER_CTX *seal;
  EVP_CIPHER_CTX *open;
  int destroyed;
} aead_key;

static void key_free(napi_env env, aead_key *k) {
  int64_t released = 0;
  if (k->seal) {
    EVP_CIPHER_CTX_free(k->seal);
    released += CONTEXT_COST;
  }
  if (k->open) {
    EVP_CIPHER_CTX_free(k->open);
    released += CONTEXT_COST;
  }
  k->seal = NULL;
  k->open = NULL;
  OPENSSL_cleanse(k->key, sizeof k->key);
  k->destroyed = 1;
  int64_t total;
  if (released > 0) napi_adjust_external_memory(env, -released, &total);
}

static void finalize_key(napi_env env, void *data, void *hint) {
  (void)hint;
  aead_key *k = data;
  key_free(env, k);
  free(k);
  int64_t total;
  napi_adjust_external_memory(env, -(int64_t)sizeof *k, &total);
}

#define CHECK(call)                                                              \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      napi_throw_error(env, "ERR_MLSTLS_NATIVE", "Node-API call failed: " #call); \
      return NULL;                                                               \
    }                                                                            \
  } while (0)

static int bytes_of(napi_env env, napi_value value, unsigned char **data, size_t *length) {
  napi_typedarray_type type;
  size_t count;
  void *base;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, &count, &base, &buffer, &offset) != napi_ok ||
      type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_MLSTLS_INVALID_ARGUMENT", "expected a Uint8Array");
    return 0;
  }
  *data = base;
  *length = count;
  return 1;
}

/* A key this addon made (type-tagged), destroyed or not; NULL with an exception pending. */
static aead_key *external_key(napi_env env, napi_value value) {
  void *data;
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, &KEY_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_MLSTLS_INVALID_ARGUMENT", "expected a native AEAD key");
    return NULL;
  }
  return data;
}

/* A key this addon made and that is not destroyed; NULL with an exception pending. */
static aead_key *key_of(napi_env env, napi_value value) {
  aead_key *k = external_key(env, value);
  if (k != NULL && k->destroyed) {
    napi_throw_error(env, "ERR_MLSTLS_INVALID_STATE", "AEAD key used after destroy()");
    return NULL;
  }
  return k;
}

/* A context for one direction, keyed on first use. */
static EVP_CIPHER_CTX *context(napi_env env, aead_key *k, int encrypt) {
  EVP_CIPHER_CTX **slot = encrypt ? &k->seal : &k->open;
  if (*slot) return *slot;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL || EVP_CipherInit_ex(ctx, k->cipher, NULL, NULL, NULL, encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LENGTH, NULL) != 1 ||
      EVP_CipherInit_ex(ctx, NULL, NULL, k->key, NULL, encrypt) != 1) {
    if (ctx) EVP_CIPHER_CTX_free(ctx);
    napi_throw_error(env, "ERR_MLSTLS_NATIVE", "OpenSSL could not set up the AEAD key");
    return NULL;
  }
  *slot = ctx;
  int64_t total;
  napi_adjust_external_memory(env, CONTEXT_COST, &total);
  return ctx;
}

/* createKey(algorithm: 0 aes-128-gcm | 1 aes-256-gcm | 2 chacha20-poly1305, key) */
/* The cipher of `algorithm` (see createKey) with its key length, or NULL. */
static const EVP_CIPHER *cipher_of(int32_t algorithm, size_t *key_length) {
  switch (algorithm) {
    case 0: *key_length = 16; return EVP_aes_128_gcm();
    case 1: *key_length = 32; return EVP_aes_256_gcm();
    case 2: *key_length = 32; return EVP_chacha20_poly1305();
    default: return NULL;
  }
}

/* Reads (algorithm, key) arguments; NULL with an exception pending when they do not fit. */
static const EVP_CIPHER *key_arguments(napi_env env, napi_value algorithm_value,
                                       napi_value key_value, unsigned char **key,
                                       size_t *key_length) {
  int32_t algorithm;
  if (napi_get_value_int32(env, algorithm_value, &algorithm) != napi_ok) {
    napi_throw_type_error(env, "ERR_MLSTLS_INVALID_ARGUMENT", "expected an AEAD number");
    return NULL;
  }
  if (!bytes_of(env, key_value, key, key_length)) return NULL;
  size_t expected = 0;
  const EVP_CIPHER *cipher = cipher_of(algorithm, &expected);
  if (cipher == NULL || *key_length != expected) {
    napi_throw_range_error(env, "ERR_MLSTLS_INVALID_ARGUMENT", "unknown AEAD or wrong key length");
    return NULL;
  }
  return cipher;
}

static napi_value create_key(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  unsigned char *key;
  size_t key_length;
  const EVP_CIPHER *cipher = key_arguments(env, argv[0], argv[1], &key, &key_length);
  if (cipher == NULL) return NULL;
  aead_key *k = calloc(1, sizeof *k);
  if (k == NULL) {
    napi_throw_error(env, "ERR_MLSTLS_NATIVE", "out of memory");
    return NULL;
  }
  k->cipher = cipher;
  k->key_length = (int)key_length;
  memcpy(k->key, key, key_length);
  napi_value external;
  if (napi_create_external(env, k, finalize_key, NULL, &external) != napi_ok) {
    key_free(env, k);
    free(k);
    napi_throw_error(env, "ERR_MLSTLS_NATIVE", "Node-API call failed: napi_create_external");
    return NULL;
  }
  /* From here the finalizer owns k. */
  int64_t total;
  napi_adjust_external_memory(env, (int64_t)sizeof *k, &total);
  if (napi_type_tag_object(env, external, &KEY_TAG) != napi_ok) {
    key_free(env, k);
    napi_throw_error(env, "ERR_MLSTLS_NATIVE", "Node-API call failed: napi_type_tag_object");
    return NULL;
  }
  /* Each direction's context is keyed on first use: a record protector only seals or opens. */
  return external;
}

/*
 * rekey(key, algorithm, bytes): a destroyed key made a key again, with new key bytes. A record
 * layer under a key_update flood makes and drops keys by the thousand: reusing their externals
 * spares V8 a finalizer for each (which it runs late, while the process grows).
 */
static napi_value rekey(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  aead_key *k = external_key(env, argv[0]);
  if (k == NULL) return NULL;
  if (!k->destroyed) {
    napi_throw_error(env, "ERR_MLSTLS_INVALID_STATE", "only a destroyed key is keyed again");
    return NULL;
  }
  unsigned char *key;
  size_t key_length;
  const EVP_CIPHER *cipher = key_arguments(env, argv[1], argv[2], &key, &key_length);
  if (cipher == NULL) return NULL;
  k->cipher = cipher;
  k->key_length = (int)key_length;
  memcpy(k->key, key, key_length);
  k->destroyed = 0;
  return NULL;
}

/*
 * seal(key, nonce, aad, content, trailer, out, offset): encrypts content || trailer into out at
 * offset (in place when content already lies there), the 16-byte tag right after.
 */
static napi_value seal(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  aead_key *k = key_of(env, argv[0]);
  if (k == NULL) return NULL;
  unsigned char *nonce, *aad, *content, *trailer, *out;
  size_t nonce_length, aad_length, content_length, trailer_length, out_length;
  if (!bytes_of(env, argv[1], &nonce, &nonce_length) ||
      !bytes_of(env, argv[2], &aad, &aad_length) ||
      !bytes_of(env, argv[3], &content, &content_length) ||
      !bytes_of(env, argv[4], &trailer, &trailer_length) ||
      !bytes_of(env, argv[5], &out, &out_length)) {
    return NULL;
  }
  int64_t offset;
  CHECK(napi_get_value_int64(env, argv[6], &offset));
  size_t total = content_length + trailer_length;
  if (nonce_length != NONCE_LENGTH || offset < 0 || (uint64_t)offset > out_length ||
      out_length - (size_t)offset < total + TAG_LENGTH || total > INT32_MAX ||
      aad_length > INT32_MAX) {
    napi_throw_range_error(env, "ERR_MLSTLS_INVALID_ARGUMENT", "bad nonce or no room in out");
    return NULL;
  }
  unsigned char *to = out + offset;
  EVP_CIPHER_CTX *ctx = context(env, k, 1);
  if (ctx == NULL) return NULL;
  int length;
  if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
      EVP_EncryptUpdate(ctx, NULL, &length, aad, (int)aad_length) != 1 ||
      (content_length > 0 &&
       EVP_EncryptUpdate(ctx, to, &length, content, (int)content_length) != 1) ||
      (trailer_length > 0 &&
       EVP_EncryptUpdate(ctx, to + content_length, &length, trailer, (int)trailer_length) != 1) ||
      EVP_EncryptFinal_ex(ctx, to + total, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LENGTH, to + total) != 1) {
    OPENSSL_cleanse(to, total + TAG_LENGTH);
    napi_throw_error(env, "ERR_MLSTLS_NATIVE", "OpenSSL failed to seal");
    return NULL;
  }
  return NULL;
}

/*
 * open(key, nonce, aad, ciphertext, out, offset): decrypts ciphertext (tag last) into out at
 * offset; returns the plaintext length, or -1 when it does not authenticate, in which case
 * the bytes written are erased before returning.
 */
static napi_value open_(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  aead_key *k = key_of(env, argv[0]);
  if (k == NULL) return NULL;
  unsigned char *nonce, *aad, *ciphertext, *out;
  size_t nonce_length, aad_length, ciphertext_length, out_length;
  if (!bytes_of(env, argv[1], &nonce, &nonce_length) ||
      !bytes_of(env, argv[2], &aad, &aad_length) ||
      !bytes_of(env, argv[3], &ciphertext, &ciphertext_length) ||
      !bytes_of(env, argv[4], &out, &out_length)) {
    return NULL;
  }
  int64_t offset;
  CHECK(napi_get_value_int64(env, argv[5], &offset));
  napi_value result;
  if (ciphertext_length < TAG_LENGTH) {
    CHECK(napi_create_int32(env, -1, &result));
    return result;
  }
  size_t length = ciphertext_length - TAG_LENGTH;
  if (nonce_length != NONCE_LENGTH || offset < 0 || (uint64_t)offset > out_length ||
      out_length - (size_t)offset < length || length > INT32_MAX || aad_length > INT32_MAX) {
    napi_throw_range_error(env, "ERR_MLSTLS_INVALID_ARGUMENT", "bad nonce or no room in out");
    return NULL;
  }
  unsigned char *to = out + offset;
  /* The tag, copied first: opening in place overwrites the ciphertext, never its tag. */
  unsigned char tag[TAG_LENGTH];
  memcpy(tag, ciphertext + length, TAG_LENGTH);
  EVP_CIPHER_CTX *ctx = context(env, k, 0);
  if (ctx == NULL) return NULL;
  int written;
  int ok = EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) == 1 &&
           EVP_DecryptUpdate(ctx, NULL, &written, aad, (int)aad_length) == 1 &&
           (length == 0 || EVP_DecryptUpdate(ctx, to, &written, ciphertext, (int)length) == 1) &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LENGTH, tag) == 1 &&
           EVP_DecryptFinal_ex(ctx, to + length, &written) == 1;
  if (!ok) {
    /* Never let unauthenticated plaintext linger. */
    OPENSSL_cleanse(to, length);
    CHECK(napi_create_int32(env, -1, &result));
    return result;
  }
  CHECK(napi_create_int32(env, (int32_t)length, &result));
  return result;
}

/* destroy(key): frees both contexts (OpenSSL cleanses the key schedule). */
static napi_value destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  aead_key *k = external_key(env, argv[0]);
  if (k == NULL) return NULL;
  if (!k->destroyed) key_free(env, k);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
      {"createKey", NULL, create_key, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rekey", NULL, rekey, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seal", NULL, seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, open_, NULL, NULL, NULL, napi_enumerable, NULL},
      {"destroy", NULL, destroy, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof *properties, properties) !=
      napi_ok) {
    return NULL;
  }
  return exports;
}
