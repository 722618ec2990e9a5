{
  "targets": [
    {
      "target_name": "mlstls_crypto_native",
      "sources": ["native/aead.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
