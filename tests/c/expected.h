/* Expected parameters after three steps of each case in smoke.c, computed by the Rust
 * scalar reference (tests/ffi.rs). Regenerate: FUSED_OPTIM_BLESS=1 cargo test --test ffi */
#define SMOKE_N 37
static const uint32_t EXPECTED_ADAM_F32[SMOKE_N] = {
    0xbfbf9db1u, 0xbf800000u, 0xbf00c49bu, 0x3b449ba5u, 0x3efe76cau, 0x3f80624fu,
    0x3fbf9db1u, 0xbfbf9db1u, 0xbf80624fu, 0xbefe76cau, 0xbb449ba5u, 0x3f00c49bu,
    0x3f800000u, 0x3fbf9db1u, 0xbfbf9db1u, 0xbf80624fu, 0xbefe76cau, 0xbb449ba8u,
    0x3f00c49bu, 0x3f7f3b65u, 0x3fc0624fu, 0xbfc0624fu, 0xbf7f3b65u, 0xbf000000u,
    0xbb449ba5u, 0x3f00c49bu, 0x3f7f3b65u, 0x3fc0624fu, 0xbfc0624fu, 0xbf7f3b65u,
    0xbf00c49bu, 0x3b449ba6u, 0x3efe76cau, 0x3f80624fu, 0x3fc00000u, 0xbfc0624fu,
    0xbf7f3b65u,
};
static const uint64_t EXPECTED_AMSGRAD_ADAMW_F64[SMOKE_N] = {
    0xbff7f3871e392374ull, 0xbfefffc11608a09eull, 0xbfe01873ef9efa53ull, 0x3f6893648046aff4ull, 0x3fdfce9a4cd698feull, 0x3ff00c2a3d4cb2b1ull,
    0x3ff7f3871e3b5666ull, 0xbff7f3871e3b5666ull, 0xbff00c2a3d4cb2b1ull, 0xbfdfce9a4cd698feull, 0xbf6893648046aff4ull, 0x3fe01873ef9efa53ull,
    0x3fefffc11608a09eull, 0x3ff7f3871e392374ull, 0xbff7f3871e46551dull, 0xbff00c2a3d50d237ull, 0xbfdfce9a4ce71714ull, 0xbf68936496442146ull,
    0x3fe01873ef9a9470ull, 0x3fefe72db177dbd9ull, 0x3ff80c1a82d2fa5eull, 0xbff80c1a82c69bd0ull, 0xbfefe72db16df698ull, 0xbfdfffc11608a09eull,
    0xbf6893649aaa04c0ull, 0x3fe01873ef8496ffull, 0x3fefe72db16f9ccfull, 0x3ff80c1a82cedad9ull, 0xbff80c1a82d19a88ull, 0xbfefe72db1725c7cull,
    0xbfe01873ef951515ull, 0x3f6893649903cf72ull, 0x3fdfce9a4d08133full, 0x3ff00c2a3d51a551ull, 0x3ff7ffd0d0867877ull, 0xbff80c1a82d3cd79ull,
    0xbfefe72db18859eeull,
};
static const uint32_t EXPECTED_ADAMAX_F32[SMOKE_N] = {
    0xbfbf3b65u, 0xbf800000u, 0xbf018936u, 0x3bc49ba5u, 0x3efced91u, 0x3f80c49bu,
    0x3fbf3b65u, 0xbfbf3b65u, 0xbf80c49bu, 0xbefced91u, 0xbbc49ba5u, 0x3f018936u,
    0x3f800000u, 0x3fbf3b65u, 0xbfbf3b65u, 0xbf80c49bu, 0xbefced91u, 0xbbc49ba8u,
    0x3f018936u, 0x3f7e76cau, 0x3fc0c49bu, 0xbfc0c49bu, 0xbf7e76cau, 0xbf000000u,
    0xbbc49ba6u, 0x3f018936u, 0x3f7e76cau, 0x3fc0c49bu, 0xbfc0c49bu, 0xbf7e76cau,
    0xbf018936u, 0x3bc49ba6u, 0x3efced91u, 0x3f80c49bu, 0x3fc00000u, 0xbfc0c49bu,
    0xbf7e76cau,
};
