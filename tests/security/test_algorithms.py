# ruff: noqa: E501  (published test vectors, one set per line as the sources print them)
"""EEA0-3 and EIA0-3 through the algorithm-number interface, against the published test data.

TS 33.401 Annex C: C.1 128-EEA2 sets 1-6, C.2 128-EIA2 sets 1-8, C.3 128-EEA1 sets 1-6, C.4
128-EIA1 sets 1-7. Typed in from srsran/srsRAN_Project tests/unittests/security/
security_test.cpp (hex strings; the 128-NIA2 non-byte-aligned sets 1, 3, 4, 6, 7 from its
newer revision), cross-checked against chunyeow/openairinterface5g openair-cn/TEST/
test_secu_knas_encrypt_eea2.c and test_secu_knas_encrypt_eia1.c/eia2.c, srsran/srsRAN_4G
lib/test/common/test_eea1.cc/test_eia2.cc (C arrays) and CryptoMobile test/test_CM.py.

128-EEA3/128-EIA3: ETSI/SAGE "128-EEA3 & 128-EIA3 Document 3: Implementor's Test Data" v1.1,
sections 4.3-4.7 (EEA3 sets 1-5) and 5.2-5.6 (EIA3 sets 1-5), typed in from the document's
text; srsRAN_Project carries the same sets (TS 33.501 D.4.6/D.4.7 reuse them).

UIA2 f9 set 6 (UEA2 & UIA2 Document 3, from CryptoMobile snow3g_F9_testset_6) shares the
16448-bit message of 128-EIA1 set 7 and 128-EIA2 set 8, so it is here too.

The documents print whole octets; bits past LENGTH in the last octet are not data, so
expected ciphertexts are compared with those bits cleared (our outputs clear them).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.ciphers import algorithms as aes_algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from epc.security.algorithms import (
    CipheringAlgorithm,
    Direction,
    IntegrityAlgorithm,
    aes_cmac_bits,
    cipher,
    compute_mac,
)
from epc.security.errors import UnsupportedAlgorithm
from epc.security.snow3g import f9

pytestmark = pytest.mark.codec


def h(value: str) -> bytes:
    return bytes.fromhex(value.replace(" ", "").replace("\n", ""))


def clear_spare_bits(data: bytes, length: int) -> bytes:
    data = data[: (length + 7) // 8]
    spare = -length % 8
    return data[:-1] + bytes((data[-1] & (0xFF << spare) & 0xFF,)) if spare else data


@dataclass(frozen=True)
class CipherSet:
    name: str
    key: str
    count: int
    bearer: int
    direction: int
    length: int
    plaintext: str
    ciphertext: str


@dataclass(frozen=True)
class MacSet:
    name: str
    key: str
    count: int
    bearer: int
    direction: int
    length: int
    message: str
    mac: str


# --- shared data -------------------------------------------------------------------------------

# fmt: off
PLAINTEXT_2 = (
    "7ec61272743bf1614726446a6c38ced166f6ca76eb5430044286346cef130f92922b03450d3a9975e5bd2ea0eb55ad8e1b199e3ec4316020"
    "e9a1b285e762795359b7bdfd39bef4b2484583d5afe082aee638bf5fd5a606193901a08f4ab41aab9b134880"
)
PLAINTEXT_3 = "fd40a41d370a1f65745095687d47ba1d36d2349e23f644392c8ea9c49d40c13271aff264d0f248"
PLAINTEXT_4 = (
    "fb1b96c5c8badfb2e8e8edfde78e57f2ad81e74103fc430a534dcc37afcec70e1517bb06f27219dae49022d"
    "dc47a068de4c9496a951a6b09edbdc864c7adbd740ac50c022f3082bafd22d78197c5d508b977bca13f32e6"
    "52e74ba728576077ce628c535e87dc6077ba07d29068590c8cb5f1088e082cfa0ec961302d69cf3d44"
)
PLAINTEXT_5 = (
    "8daa17b1ae050529c6827f28c0ef6a1242e93f8b314fb18a77f790ae049fedd612267fecaefc450174d76d9f9aa7755a30cd90a9a5874bf4"
    "8eaf70eea3a62a250a8b6bd8d9b08b08d64e32d1817777fb544d49cd49720e219dbf8bbed33904e1fd40a41d370a1f65745095687d47ba1d"
    "36d2349e23f644392c8ea9c49d40c13271aff264d0f24841d6465f0996ff84e65fc517c53efc3363c38492a8"
)
# Test set 6 of C.1 and C.3: the same 480 octets, then "00b090" (128-EEA2) or "b09550"
# (128-EEA1) as both documents' copies print them.
PLAINTEXT_6_HEAD = (
    "40981ba6824c1bfb4286b299783daf442c099f7ab0f58d5c8e46b104f08f01b41ab485472029b71d36bd1a3d90dc3a41b46d51672ac4c966"
    "3a2be063da4bc8d2808ce33e2cccbfc634e1b259060876a0fbb5a437ebcc8d31c19e4454318745e3fa16bb11adae248879fe52db2543e53c"
    "f445d3d828ce0bf5c560593d97278a59762dd0c2c9cd68d4496a792508614014b13b6aa51128c18cd6a90b87978c2ff1cabe7d9f898a411b"
    "fdb84f68f6727b1499cdd30df0443ab4a66653330bcba1105e4cec034c73e605b4310eaaadcfd5b0ca27ffd89d144df4792759427c9cc1f8"
    "cd8c87202364b8a687954cb05a8d4e2d99e73db160deb180ad0841e96741a5d59fe4189f15420026fe4cd12104932fb38f735340438aaf7e"
    "ca6fd5cfd3a195ce5abe65272af607ada1be65a6b4c9c0693234092c4d018f1756c6db9dc8a6d80b888138616b681262f954d0e771174878"
    "0d92291d86299972db741cfa4f37b8b56cdb18a7ca8218e86e4b4b716a4d04371fbec262fc5ad0b3819b187b97e55b1a4d7c19ee24c8b4d7"
    "723cfedf045b8acae4869517d80e50615d9035d5d9c5a40af602280b542597b0cb18619eeb35925759d195e100e8e4aa0c38a3c2abe0f3d8"
    "ff04f3c33c295069c23694b5bbeacdd542e28e8a94edb9119f412d054be1fa72"
)

MESSAGE_3 = "b3d3c9170a4e1632f60f861013d22d84b726b6a278d802d1eeaf1321ba5929dc"
MESSAGE_4 = (
    "bbb057038809496bcff86d6fbc8ce5b135a06b166054f2d565be8ace75dc851e0bcdd8f07141c495872fb5d8c"
    "0c66a8b6da556663e4e461205d84580bee5bc7e"
)
MESSAGE_5 = (
    "35c68716633c66fb750c266865d53c11ea05b1e9fa49c8398d48e1efa5909d3947902837f5ae96d5a05bc8d61ca8dbef1b13a4b4abfe4fb1"
    "006045b674bb54729304c382be53a5af05556176f6eaa2ef1d05e4b083181ee674cda5a485f74d7a"
)
MESSAGE_6 = "d3c53839626820717765667620323837636240981ba6824c1bfb1ab485472029b71d808ce33e2cc3c0b5fc1f3de8a6dc"
MESSAGE_7 = (
    "70dedf2dc42c5cbd3a96f8a0b11418b3608d5733604a2cd36aabc70ce3193bb5153be2d3c06dfdb2d16e9c357158be6a41d6b861e491db3f"
    "bfeb518efcf048d7d58953730ff30c9ec470ffcd663dc34201c36addc0111c35b38afee7cfdb582e3731f8b4baa8d1a89c06e81199a97162"
    "27be344efcb436ddd0f096c064c3b5e2c399993fc77394f9e09720a811850ef23b2ee05d9e6173609d86e1c0c18ea51a012a00bb413b9cb8"
    "188a703cd6bae31cc67b34b1b00019e6a2b2a690f02671fe7c9ef8dec0094e533763478d58d2c5f5b827a0148c5948a96931acf84f465a64"
    "e62ce74007e991e37ea823fa0fb21923b79905b733b631e6c7d6860a3831ac351a9c730c52ff72d9d308eedbab21fde143a0ea17e23edc1f"
    "74cbb3638a2033aaa15464eaa733385dbbeb6fd73509b857e6a419dca1d8907af977fbac4dfa35ec"
)
# 128-EIA1 set 7, 128-EIA2 set 8 and UIA2 set 6: 16448 bits.
LONG_MESSAGE = (
    "00000000000000000101010101010101e0958045f3a0bba4e3968346f0a3b8a7c02a018ae640765226b987c913e6cbf083570016cf83efbc"
    "61c082513e21561a427c009d28c298eface78ed6d56c2d4505ad032e9c04dc60e73a81696da665c6c48603a57b45ab33221585e68ee31691"
    "87fb0239528632dd656c807ea3248b7b46d002b2b5c7458eb85b9ce95879e0340859055e3b0abbc3eace8719caa80265c97205d5dc4bcc90"
    "2fe1839629ed71328a0f0449f588557e6898860e042aecd84b2404c212c9222da5bf8a89ef6797870cf50771a60f66a2ee62853657addf04"
    "cdde07fa414e11f12b4d81b9b4e8ac538ea30666688d881f6c348421992f31b94f8806ed8fccff4c9123b89642527ad613b109bf75167485"
    "f1268bf884b4cd23d29a0934925703d634098f7767f1be7491e708a8bb949a3873708aef4a36239e50cc08235cd5ed6bbe578668a17b58c1"
    "171d0b90e813a9e4f58a89d719b11042d6360b1b0f52deb730a58d58faf46315954b0a872691475977dc88c0d733feff54600a0cc1d0300a"
    "aaeb94572c6e95b01ae90de04f1dce47f87e8fa7bebf77e1dbc20d6ba85cb9143d518b285dfa04b698bf0cf7819f20fa7a288eb0703d995c"
    "59940c7c66de57a9b70f82379b70e2031e450fcfd2181326fcd28d8823baaa80df6e0f443559647539fd8907c0ffd9d79c130ed81c9afd9b"
    "7e848c9fed38443d5d380e53fbdb8ac8c3d3f06876054f122461107de92fea09c6f6923a188d53afe54a10f60e6e9d5a03d996b5fbc820f8"
    "a637116a27ad04b444a0932dd60fbd12671c11e1c0ec73e789879faa3d42c64d20cd1252742a3768c25a901585888ecee1e612d9936b403b"
    "0775949a66cdfd99a29b1345baa8d9d5400c91024b0a607363b013ce5de9ae869d3b8d95b0570b3c2d391422d32450cbcfae96652286e96d"
    "ec1214a9346527980a8192eac1c39a3aaf6f15351da6be764df89772ec0407d06e4415befae7c92580df9bf507497c8f2995160d4e218daa"
    "cb02944abf83340ce8be1686a960faf90e2d90c55cc6475babc3171a80a363174954955d7101dab16ae8179167e21444b443a9eaaa7c91de"
    "36d118c39d389f8dd4469a846c9a262bf7fa18487a79e8de11699e0b8fdf557cb48719d453ba713056109b93a218c89675ac195fb4fb0663"
    "9b3797144955b3c9327d1aec003d42ecd0ea98abf19ffb4af3561a67e77c35bf15c59c2412da881db02b1bfbcebfac5152bc99bc3f1d15f7"
    "71001b7029fedb028f8b852bc4407eb83f891c9ca733254fdd1e9edb56919ce9fea21c174072521c18319a54b5d4efbebddf1d8b69b1cbf2"
    "5f489fcc981372547cf41d008ef0bca1926f934b735e090b3b251eb33a36f82ed9b29cf4cb944188fa0e1e38dd778f7d1c9d987b28d132df"
    "b9731fa4f4b416935be49de30516af3578581f2f13f561c0663361941eab249a4bc123f8d15cd711a956a1bf20fe6eb78aea2373361da042"
    "6c79a530c3bb1de0c99722ef1fde39ac2b00a0a8ee7c800a08bc2264f89f4effe627ac2f0531fb554f6d21d74c590a70adfaa390bdfbb3d6"
    "8e46215cab187d2368d5a71f5ebec081cd3b20c082dbe4cd2faca28773795d6b0c10204b659a939ef29bbe1088243624429927a7eb576dd3"
    "a00ea5e01af5d47583b2272c0c161a806521a16ff9b0a722c0cf26b025d5836e2258a4f7d4773ac801e4263bc294f43def7fa8703f3a4197"
    "463525887652b0b2a4a2a7cf87f00914871e25039113c7e1618da34064b57a43c463249fb8d05e0f26f4a6d84972e7a9054824145f91295c"
    "dbe39a6f920facc659712b46a54ba295bbe6a90154e91b33985a2bcd420ad5c67ec9ad8eb7ac6864db272a516bc94c2839b0a8169a6bf58e"
    "1a0c2ada8c883b7bf497a49171268ed15ddd2969384e7ff4bf4aab2ec9ecc6529cf629e2df0f08a77a65afa12aa9b505df8b287ef6cc9149"
    "3d1caa39076e28ef1ea028f5118de61ae02bb6aefc3343a050292f199f401857b2bead5e6ee2a1f191022f9278016f047791a9d18da7d2a6"
    "d27f2e0e51c2f6ea30e8ac49a0604f4c13542e85b68381b9fdcfa0ce4b2d341354852d360245c536b612af71f3e77c9095ae2dbde504b265"
    "733dabfe10a20fc7d6d32c21ccc72b8b3444ae663d65922d17f82caa2b865cd88913d291a65899026ea1328439723c198c36b0c3c8d085bf"
    "af8a320fde334b4a4919b44c2b95f6e8ecf73393f7f0d2a40e60b1d406526b022ddc331810b1a5f7c347bd53ed1f105d6a0d30aba477e178"
    "889ab2ec55d558deab2630204336962b4db5b663b6902b89e85b31bc6af50fc50accb3fb9b57b663297031378db47896d7fbaf6c600add2c"
    "67f936db037986db856eb49cf2db3f7da6d23650e438f1884041b013119e4c2ae5af37cccdfb68660738b58b3c59d1c0248437472aba1f35"
    "ca1fb90cd714aa9f635534f49e7c5bba81c2b6b36fdee21ca27e347f793d2ce944edb23c8c9b914be10335e350feb5070394b7a4a15c0ca1"
    "20283568b7bfc254fe838b137a2147ce7c113a3a4d65499d9e86b87dbcc7f03bbd3a3ab1aa243ece5ba9bcf25f82836cfe473b2d83e7a720"
    "1cd0b96a72451e863f6c3ba664a6d073d1f7b5ed990865d978bd3815d06094fc9a2aba5221c22d5ab996389e3721e3af5f05beddc2875e0d"
    "faeb39021ee27a41187cbb45ef40c3e73bc03989f9a30d12c54ba7d2141da8a875493e65776ef35f97debc2286cc4af9b4623eee902f840c"
    "52f1b8ad658939aef71f3f72b9ec1de21588bd35484ea44436343ff95ead6ab1d8afb1b2a303df1b71e53c4aea6b2e3e9372be0d1bc99798"
    "b0ce3cc10d2a596d565dba82f88ce4cff3b33d5d24e9c0831124bf1ad54b792532983dd6c3a8b7d0"
)

# --- TS 33.401 C.1: 128-EEA2 ------------------------------------------------------------------

EEA2_SETS = [
    CipherSet("C.1 set 1", "d3c5d592327fb11c4035c6680af8c6d1", 0x398A59B4, 0x15, 1, 253,
              "981ba6824c1bfb1ab485472029b71d808ce33e2cc3c0b5fc1f3de8a6dc66b1f0",
              "e9fed8a63d155304d71df20bf3e82214b20ed7dad2f233dc3c22d7bdeeed8e78"),
    CipherSet("C.1 set 2", "2bd6459f82c440e0952c49104805ff48", 0xC675A64B, 0x0C, 1, 798, PLAINTEXT_2,
              "5961605353c64bdca15b195e288553a910632506d6200aa790c4c806c99904cf2445cc50bb1cf168a49673734e081b57e324ce5259c0e78d"
              "4cd97b870976503c0943f2cb5ae8f052c7b7d392239587b8956086bcab18836042e2e6ce42432a17105c53d0"),
    CipherSet("C.1 set 3", "0a8b6bd8d9b08b08d64e32d1817777fb", 0x544D49CD, 0x04, 0, 310, PLAINTEXT_3,
              "75750d37b4bba2a4dedb34235bd68c6645acdaaca48138a3b0c471e2a7041a576423d2927287f0"),
    CipherSet("C.1 set 4", "aa1f95aea533bcb32eb63bf52d8f831a", 0x72D8C671, 0x10, 1, 1022, PLAINTEXT_4,
              "dfb440acb3773549efc04628aeb8d8156275230bdc690d94b00d8d95f28c4b56307f60f4ca55eba661ebba"
              "72ac808fa8c49e26788ed04a5d606cb418de74878b9a22f8ef29590bc4eb57c9faf7c41524a885b8979c42"
              "3f2f8f8e0592a9879201be7ff9777a162ab810feb324ba74c4c156e04d39097209653ac33e5a5f2d8864"),
    CipherSet("C.1 set 5", "9618ae46891f86578eebe90ef7a1202e", 0xC675A64B, 0x0C, 1, 1245, PLAINTEXT_5,
              "919c8c33d66789703d05a0d7ce82a2aeac4ee76c0f4da050335e8a84e7897ba5df2f36bd513e3d0c8578c7a0fcf043e03aa3a39fbaad7d15"
              "be074faa5d9029f71fb457b647834714b0e18f117fca10677945096c8c5f326ba8d6095eb29c3e36cf245d1622aafe921f7566c4f5d644f2"
              "f1fc0ec684ddb21349747622e209295d27ff3f95623371d49b147c0af486171f22cd04b1cbeb2658223e6938"),
    CipherSet("C.1 set 6", "54f4e2e04c83786eec8fb5abe8e36566", 0xACA4F50F, 0x0B, 0, 3861, PLAINTEXT_6_HEAD + "00b090",
              "5cb72c6edc878f1566e10253afc364c9fa540d914db94cbee275d0917ca6af0d77acb4ef3bbe1a722b2ef5bd1d4b8e2aa5024ec1388a201e"
              "7bce7920aec615895f763a5564dcc4c482a2ee1d8bfecc4498eca83fbb75f9ab530e0dafbede2fa5895b82991b6277c529e0f2529d7f7960"
              "6be96706296dedfa9d7412b616958cb563c678c02825c30d0aee77c4c146d2765412421a808d13cec819694c75ad572e9b973d948b81a933"
              "7c3b2a17192e22c2069f7ed1162af44cdea817603665e807ce40c8e0dd9d6394dc6e31153fe1955c47afb51f2617ee0c5e3b8ef1ad7574ed"
              "343edc2743cc94c990e1f1fd264253c178dea739c0befeebcd9f9b76d49c1015c9fecf50e53b8b5204dbcd3eed863855dabcdcc94b31e318"
              "021568855c8b9e52a981957a112827f978ba960f1447911b317b5511fbcc7fb13ac153db74251117e4861eb9e83bffffc4eb7755579038e5"
              "7924b1f78b3e1ad90bab2a07871b72db5eef96c334044966db0c37cafd1a89e5646a3580eb6465f121dce9cb88d85b96cf23ccccd4280767"
              "bee8eeb23d8652461db6493103003baf89f5e18261ea43c84a92ebffffe4909dc46c5192f825f770600b9602c557b5f8b431a79d45977dd9"
              "c41b863da9e142e90020cfd074d6927b7ab3b6725d1a6f3f98b9c9daa8982aff067828"),
]

# --- TS 33.401 C.2: 128-EIA2 ------------------------------------------------------------------

EIA2_SETS = [
    MacSet("C.2 set 1", "2bd6459f82c5b300952c49104881ff48", 0x38A6F056, 0x18, 0, 58, "3332346263393840", "118c6eb8"),
    MacSet("C.2 set 2", "d3c5d592327fb11c4035c6680af8c6d1", 0x398A59B4, 0x1A, 1, 64, "484583d5afe082ae", "b93787e6"),
    MacSet("C.2 set 3", "7e5e94431e11d73828d739cc6ced4573", 0x36AF6144, 0x18, 1, 254, MESSAGE_3, "1f60b01d"),
    MacSet("C.2 set 4", "d3419be821087acd02123a9248033359", 0xC7590EA9, 0x17, 0, 511, MESSAGE_4, "6846a2f0"),
    MacSet("C.2 set 5", "83fd23a244a74cf358da3019f1722635", 0x36AF6144, 0x0F, 1, 768, MESSAGE_5, "e657e182"),
    MacSet("C.2 set 6", "6832a65cff4473621ebdd4ba26a921fe", 0x36AF6144, 0x18, 0, 383, MESSAGE_6, "f0668c1e"),
    MacSet("C.2 set 7", "5d0a80d8134ae19677824b671e838af4", 0x7827FAB2, 0x05, 1, 2558, MESSAGE_7, "f4cc8fa3"),
    MacSet("C.2 set 8", "b3120ffdb2cf6af4e73eaf2ef4ebec69", 0x296F393C, 0x0B, 1, 16448, LONG_MESSAGE, "ebd5ccb0"),
]

# --- TS 33.401 C.3: 128-EEA1 ------------------------------------------------------------------

EEA1_SETS = [
    CipherSet("C.3 set 1", "d3c5d592327fb11c4035c6680af8c6d1", 0x398A59B4, 0x15, 1, 253,
              "981ba6824c1bfb1ab485472029b71d808ce33e2cc3c0b5fc1f3de8a6dc66b1f0",
              "5d5bfe75eb04f68ce0a12377ea00b37d47c6a0ba06309155086a859c4341b378"),
    CipherSet("C.3 set 2", "2bd6459f82c440e0952c49104805ff48", 0xC675A64B, 0x0C, 1, 798, PLAINTEXT_2,
              "3f67850714b8da69efb727ed7a6c0c50714ad736c4f5600006e3525be807c467c677ff864af45fba09c27cde38f87a1f84d59ab255408f2c"
              "7b82f9ead41a1fe65eabebfbc1f3a4c56c9a26fcf7b3d66d0220ee4775bc58170a2b12f3431d11b344d6e36c"),
    CipherSet("C.3 set 3", "0a8b6bd8d9b08b08d64e32d1817777fb", 0x544D49CD, 0x04, 0, 310, PLAINTEXT_3,
              "48148e5452a210c05f46bc80dc6f73495b02048c1b958b026102ca97280279a4c18d2ee308921c"),
    CipherSet("C.3 set 4", "aa1f95aea533bcb32eb63bf52d8f831a", 0x72D8C671, 0x10, 1, 1022, PLAINTEXT_4,
              "ffcfc2fead6c094e96c589d0f6779b6784246c3c4d1cea203db3901f40ad4fd7138bc6d77e8320cb102f49"
              "7fdd44a269a96ecb28617700e332eb2f736b34f4f2693094e22ff94f9be4723da40c40dfd3931cc1ac9723"
              "f6b4a9913e96b6db7abcace415177c1d0115c5f09b5fdea0b3adb8f9da6e9f9a04c543397b9d43f87330"),
    CipherSet("C.3 set 5", "9618ae46891f86578eebe90ef7a1202e", 0xC675A64B, 0x0C, 1, 1245, PLAINTEXT_5,
              "6cdb18a7ca8218e86e4b4b716a4d04371fbec262fc5ad0b3819b187b97e55b1a4d7c19ee24c8b4d7723cfedf045b8acae4869517d80e5061"
              "5d9035d5d9c5a40af602280b542597b0cb18619eeb35925759d195e100e8e4aa0c38a3c2abe0f3d8ff04f3c33c295069c23694b5bbeacdd5"
              "42e28e8a94edb9119f412d054be1fa7272b5ffb2b2570f4f7ceaf383a8a9d93572f04d6e3a6e293726ec62c8"),
    CipherSet("C.3 set 6", "54f4e2e04c83786eec8fb5abe8e36566", 0xACA4F50F, 0x0B, 0, 3861, PLAINTEXT_6_HEAD + "b09550",
              "351e30d4d910c5dd5ad7834c426e6c0cab6486da7b0fda4cd83af1b9647137f1ac43b434223b19be07bd89d1cc306944d3361ea1a2f8cdbd"
              "321655976350d00b80dd838120a7755c6dea2ab2b0c99a913f47dae2b8deb9a829e5469ff2e187776f6fd081e3871d119a76e24c917ea626"
              "48e02e90367564de72ae7e4f0a4249a9a5b0e465a2d6d9dc87843b1b875cc9a3be93d8da8f56ecaf5981fe93c284318b0dec7a3ba108e2cb"
              "1a61e966fa7afa7ac7f67f65bc4a2df070d4e434845f109ab2b68ade3dc316ca6332a62893e0a7ec0b4fc25191bf2ff1b9f9815e4ba8a99c"
              "643b521804f7d5850dde3952206ec6ccf340f9b3220b3023bdd063956ea8333920fde99e0675410e49ef3b4d3fb3df5192f99ca83d3b0032"
              "de08c220776a5865b0e4b3b0c75defe7762dff018ea7f5be2b2f972b2a8ba5970e43bd6fdd63dae629784ec48d610054ee4e4b5dbbf1fc2f"
              "a0b830e94dcbb7014e8ab429ab100fc48f83171d99fc258b7c2ba7c176eaeaad37f860d597a31ce79b594733c7141df79151fca90c08478a"
              "5c6c2cc481d51ffece3cd7d2581348827a71f091428ebe38c95a3f5c63e056dfb7cc45a9b7c07d834e7b20b99ed202429c14bb85ffa43b7c"
              "b68495cd75ab66d964d4cafe64dd9404dae2dc5110617f194fc3c184f583cd0def6d00"),
]

# --- TS 33.401 C.4: 128-EIA1 ------------------------------------------------------------------

EIA1_SETS = [
    MacSet("C.4 set 1", "2bd6459f82c5b300952c49104881ff48", 0x38A6F056, 0x1F, 0, 88, "33323462633938613734790000000000", "731f1165"),
    MacSet("C.4 set 2", "7e5e94431e11d73828d739cc6ced4573", 0x36AF6144, 0x18, 1, 254, MESSAGE_3, "e3259f6f"),
    MacSet("C.4 set 3", "d3419be821087acd02123a9248033359", 0xC7590EA9, 0x17, 0, 511, MESSAGE_4, "9a16c77d"),
    MacSet("C.4 set 4", "83fd23a244a74cf358da3019f1722635", 0x36AF6144, 0x0F, 1, 768, MESSAGE_5, "bba74492"),
    MacSet("C.4 set 5", "6832a65cff4473621ebdd4ba26a921fe", 0x36AF6144, 0x18, 0, 383, MESSAGE_6, "4145e4b0"),
    MacSet("C.4 set 6", "5d0a80d8134ae19677824b671e838af4", 0x7827FAB2, 0x05, 1, 2558, MESSAGE_7, "0fa2b1ee"),
    MacSet("C.4 set 7", "b3120ffdb2cf6af4e73eaf2ef4ebec69", 0x296F393C, 0x0B, 1, 16448, LONG_MESSAGE, "abf3e651"),
]

# --- 128-EEA3 / 128-EIA3: EEA3 & EIA3 Document 3, sections 4 and 5 --------------------------

EEA3_SETS = [
    CipherSet("Doc3 4.3 set 1", "173d14ba5003731d7a60049470f00a29", 0x66035492, 0xF, 0, 193,
              "6cf65340 735552ab 0c9752fa 6f9025fe 0bd675d9 005875b2 00000000",
              "a6c85fc6 6afb8533 aafc2518 dfe78494 0ee1e4b0 30238cc8 00000000"),
    CipherSet("Doc3 4.4 set 2", "e5bd3ea0eb55ade866c6ac58bd54302a", 0x56823, 0x18, 1, 800,
              """14a8ef69 3d678507 bbe7270a 7f67ff50 06c3525b 9807e467 c4e56000 ba338f5d
                 42955903 67518222 46c80d3b 38f07f4b e2d8ff58 05f51322 29bde93b bbdcaf38
                 2bf1ee97 2fbf9977 bada8945 847a2a6c 9ad34a66 7554e04d 1f7fa2c3 3241bd8f
                 01ba220d""",
              """131d43e0 dea1be5c 5a1bfd97 1d852cbf 712d7b4f 57961fea 3208afa8 bca433f4
                 56ad09c7 417e58bc 69cf8866 d1353f74 865e8078 1d202dfb 3ecff7fc bc3b190f
                 e82a204e d0e350fc 0f6f2613 b2f2bca6 df5a473a 57a4a00d 985ebad8 80d6f238
                 64a07b01"""),
    CipherSet("Doc3 4.5 set 3", "d4552a8fd6e61cc81a2009141a29c10b", 0x76452EC1, 0x2, 1, 1570,
              """38f07f4b e2d8ff58 05f51322 29bde93b bbdcaf38 2bf1ee97 2fbf9977 bada8945
                 847a2a6c 9ad34a66 7554e04d 1f7fa2c3 3241bd8f 01ba220d 3ca4ec41 e074595f
                 54ae2b45 4fd97143 20436019 65cca85c 2417ed6c bec3bada 84fc8a57 9aea7837
                 b0271177 242a64dc 0a9de71a 8edee86c a3d47d03 3d6bf539 804eca86 c584a905
                 2de46ad3 fced6554 3bd90207 372b27af b79234f5 ff43ea87 0820e2c2 b78a8aae
                 61cce52a 0515e348 d196664a 3456b182 a07c406e 4a207912 71cfeda1 65d535ec
                 5ea2d4df 40000000""",
              """8383b022 9fcc0b9d 2295ec41 c977e9c2 bb72e220 378141f9 c8318f3a 270dfbcd
                 ee6411c2 b3044f17 6dc6e00f 8960f97a facd131a d6a3b49b 16b7babc f2a509eb
                 b16a75dc ab14ff27 5dbeeea1 a2b155f9 d52c2645 2d0187c3 10a4ee55 beaa78ab
                 4024615b a9f5d5ad c7728f73 560671f0 13e5e550 085d3291 df7d5fec edded559
                 641b6c2f 585233bc 71e9602b d2305855 bbd25ffa 7f17ecbc 042daae3 8c1f57ad
                 8e8ebd37 346f71be fdbb7432 e0e0bb2c fc09bcd9 6570cb0c 0c39df5e 29294e82
                 703a637f 80000000"""),
    CipherSet("Doc3 4.6 set 4", "db84b4fbccda563b66227bfe456f0f77", 0xE4850FE1, 0x10, 1, 2798,
              """e539f3b8 973240da 03f2b8aa 05ee0a00 dbafc0e1 82055dfe 3d7383d9 2cef40e9
                 2928605d 52d05f4f 9018a1f1 89ae3997 ce19155f b1221db8 bb0951a8 53ad852c
                 e16cff07 382c93a1 57de00dd b125c753 9fd85045 e4ee07e0 c43f9e9d 6f414fc4
                 d1c62917 813f74c0 0fc83f3e 2ed7c45b a5835264 b43e0b20 afda6b30 53bfb642
                 3b7fce25 479ff5f1 39dd9b5b 995558e2 a56be18d d581cd01 7c735e6f 0d0d97c4
                 ddc1d1da 70c6db4a 12cc9277 8e2fbbd6 f3ba52af 91c9c6b6 4e8da4f7 a2c266d0
                 2d001753 df089603 93c5d568 88bf49eb 5c16d9a8 0427a416 bcb597df 5bfe6f13
                 890a07ee 1340e647 6b0d9aa8 f822ab0f d1ab0d20 4f40b7ce 6f2e136e b67485e5
                 07804d50 4588ad37 ffd81656 8b2dc403 11dfb654 cdead47e 2385c343 6203dd83
                 6f9c64d9 7462ad5d fa63b5cf e08acb95 32866f5c a787566f ca93e6b1 693ee15c
                 f6f7a2d6 89d97417 98dc1c23 8e1be650 733b18fb 34ff880e 16bbd21b 47ac0000""",
              """4bbfa91b a25d47db 9a9f190d 962a19ab 323926b3 51fbd39e 351e05da 8b8925e3
                 0b1cce0d 12211010 95815cc7 cb631950 9ec0d679 40491987 e13f0aff ac332aa6
                 aa64626d 3e9a1917 519e0b97 b655c6a1 65e44ca9 feac0790 d2a321ad 3d86b79c
                 5138739f a38d887e c7def449 ce8abdd3 e7f8dc4c a9e7b733 14ad310f 9025e619
                 46b3a56d c649ec0d a0d63943 dff592cf 962a7efb 2c8524e3 5a2a6e78 79d62604
                 ef268695 fa400302 7e22e608 30775220 64bd4a5b 906b5f53 1274f235 ed506cff
                 0154c754 928a0ce5 476f2cb1 020a1222 d32c1455 ecaef1e3 68fb344d 1735bfbe
                 deb71d0a 33a2a54b 1da5a294 e679144d df11eb1a 3de8cf0c c0619179 74f35c1d
                 9ca0ac81 807f8fcc e6199a6c 7712da86 5021b04c e0439516 f1a526cc da9fd9ab
                 bd53c3a6 84f9ae1e 7ee6b11d a138ea82 6c5516b5 aadf1abb e36fa7ff f92e3a11
                 76064e8d 95f2e488 2b5500b9 3228b219 4a475c1a 27f63f9f fd264989 a1bc0000"""),
    CipherSet("Doc3 4.7 set 5", "e13fed21b46e4e7ec31253b2bb17b3e0", 0x2738CDAA, 0x1A, 0, 4019,
              """8d74e20d 54894e06 d3cb13cb 3933065e 8674be62 adb1c72b 3a646965 ab63cb7b
                 7854dfdc 27e84929 f49c64b8 72a490b1 3f957b64 827e71f4 1fbd4269 a42c97f8
                 24537027 f86e9f4a d82d1df4 51690fdd 98b6d03f 3a0ebe3a 312d6b84 0ba5a182
                 0b2a2c97 09c090d2 45ed267c f845ae41 fa975d33 33ac3009 fd40eba9 eb5b8857
                 14b768b6 97138baf 21380eca 49f644d4 8689e421 5760b906 739f0d2b 3f091133
                 ca15d981 cbe401ba f72d05ac e05cccb2 d297f4ef 6a5f58d9 1246cfa7 7215b892
                 ab441d52 78452795 ccb7f5d7 9057a1c4 f77f80d4 6db2033c b79bedf8 e60551ce
                 10c667f6 2a97abaf abbcd677 2018df96 a282ea73 7ce2cb33 1211f60d 5354ce78
                 f9918d9c 206ca042 c9b62387 dd709604 a50af16d 8d35a890 6be484cf 2e74a928
                 99403643 53249b27 b4c9ae29 eddfc7da 6418791a 4e7baa06 60fa6451 1f2d685c
                 c3a5ff70 e0d2b742 92e3b8a0 cd6b04b1 c790b8ea d2703708 540dea2f c09c3da7
                 70f65449 e84d817a 4f551055 e19ab850 18a0028b 71a144d9 6791e9a3 57793350
                 4eee0060 340c69d2 74e1bf9d 805dcbcc 1a6faa97 6800b6ff 2b671dc4 63652fa8
                 a33ee509 74c1c21b e01eabb2 16743026 9d72ee51 1c9dde30 797c9a25 d86ce74f
                 5b961be5 fdfb6807 814039e7 137636bd 1d7fa9e0 9efd2007 505906a5 ac45dfde
                 ed7757bb ee745749 c2963335 0bee0ea6 f409df45 80160000""",
              """94eaa4aa 30a57137 ddf09b97 b25618a2 0a13e2f1 0fa5bf81 61a879cc 2ae797a6
                 b4cf2d9d f31debb9 905ccfec 97de605d 21c61ab8 531b7f3c 9da5f039 31f8a064
                 2de48211 f5f52ffe a10f392a 04766998 5da454a2 8f080961 a6c2b62d aa17f33c
                 d60a4971 f48d2d90 9394a55f 48117ace 43d708e6 b77d3dc4 6d8bc017 d4d1abb7
                 7b7428c0 42b06f2f 99d8d07c 9879d996 00127a31 985f1099 bbd7d6c1 519ede8f
                 5eeb4a61 0b349ac0 1ea23506 91756bd1 05c974a5 3eddb35d 1d4100b0 12e522ab
                 41f4c5f2 fde76b59 cb8b96d8 85cfe408 0d1328a0 d636cc0e dc05800b 76acca8f
                 ef672084 d1f52a8b bd8e0993 320992c7 ffbae17c 408441e0 ee883fc8 a8b05e22
                 f5ff7f8d 1b48c74c 468c467a 028f09fd 7ce91109 a570a2d5 c4d5f4fa 18c5dd3e
                 4562afe2 4ef77190 1f59af64 5898acef 088abae0 7e92d52e b2de5504 5bb1b7c4
                 164ef2d7 a6cac15e eb926d7e a2f08b66 e1f759f3 aee44614 725aa3c7 482b3084
                 4c143ff8 5b53f1e5 83c50125 7dddd096 b81268da a303f172 34c23335 41f0bb8e
                 190648c5 807c866d 71932286 09adb948 686f7de2 94a802cc 38f7fe52 08f5ea31
                 96d0167b 9bdd02f0 d2a5221c a508f893 af5c4b4b b9f4f520 fd84289b 3dbe7e61
                 497a7e2a 584037ea 637b6981 127174af 57b471df 4b2768fd 79c1540f b3edf2ea
                 22cb69be c0cf8d93 3d9c6fdd 645e8505 91cca3d6 2c0cc000"""),
]

EIA3_SETS = [
    MacSet("Doc3 5.2 set 1", "00000000000000000000000000000000", 0x0, 0x0, 0, 1, "00000000", "c8a9595e"),
    MacSet("Doc3 5.3 set 2", "47054125561eb2dda94059da05097850", 0x561EB2DD, 0x14, 0, 90,
           "00000000 00000000 00000000", "6719a088"),
    MacSet("Doc3 5.4 set 3", "c9e6cec4607c72db000aefa88385ab0a", 0xA94059DA, 0xA, 1, 577,
           """983b41d4 7d780c9e 1ad11d7e b70391b1 de0b35da 2dc62f83 e7b78d63 06ca0ea0
              7e941b7b e91348f9 fcb170e2 217fecd9 7f9f68ad b16e5d7d 21e569d2 80ed775c
              ebde3f40 93c53881 00000000""", "fae8ff0b"),
    MacSet("Doc3 5.5 set 4", "c8a48262d0c2e2bac4b96ef77e80ca59", 0x05097850, 0x10, 1, 2079,
           """b546430b f87b4f1e e834704c d6951c36 e26f108c f731788f 48dc34f1 678c0522
              1c8fa7ff 2f39f477 e7e49ef6 0a4ec2c3 de24312a 96aa26e1 cfba5756 3838b297
              f47e8510 c779fd66 54b14338 6fa639d3 1edbd6c0 6e47d159 d94362f2 6aeeedee
              0e4f49d9 bf841299 5415bfad 56ee82d1 ca7463ab f085b082 b09904d6 d990d43c
              f2e062f4 0839d932 48b1eb92 cdfed530 0bc14828 0430b6d0 caa094b6 ec8911ab
              7dc36824 b824dc0a f6682b09 35fde7b4 92a14dc2 f4364803 8da2cf79 170d2d50
              133fd494 16cb6e33 bea90b8b f4559b03 732a01ea 290e6d07 4f79bb83 c10e5800
              15cc1a85 b36b5501 046e9c4b dcae5135 690b8666 bd54b7a7 03ea7b6f 220a5469
              a568027e""", "004ac4d6"),
    MacSet("Doc3 5.6 set 5", "6b8b08ee79e0b5982d6d128ea9f220cb", 0x561EB2DD, 0x1C, 0, 5670,
           """5bad7247 10ba1c56 d5a315f8 d40f6e09 3780be8e 8de07b69 92432018 e08ed96a
              5734af8b ad8a575d 3a1f162f 85045cc7 70925571 d9f5b94e 454a77c1 6e72936b
              f016ae15 7499f054 3b5d52ca a6dbeab6 97d2bb73 e41b8075 dce79b4b 86044f66
              1d4485a5 43dd7860 6e0419e8 059859d3 cb2b67ce 0977603f 81ff839e 33185954
              4cfbc8d0 0fef1a4c 8510fb54 7d6b06c6 11ef44f1 bce107cf a45a06aa b360152b
              28dc1ebe 6f7fe09b 0516f9a5 b02a1bd8 4bb0181e 2e89e19b d8125930 d178682f
              3862dc51 b636f04e 720c47c3 ce51ad70 d94b9b22 55fbae90 6549f499 f8c6d399
              47ed5e5d f8e2def1 13253e7b 08d0a76b 6bfc68c8 12f375c7 9b8fe5fd 85976aa6
              d46b4a23 39d8ae51 47f680fb e70f978b 38effd7b 2f7866a2 2554e193 a94e98a6
              8b74bd25 bb2b3f5f b0a5fd59 887f9ab6 8159b717 8d5b7b67 7cb546bf 41eadca2
              16fc1085 0128f8bd ef5c8d89 f96afa4f a8b54885 565ed838 a950fee5 f1c3b0a4
              f6fb71e5 4dfd169e 82cecc72 66c850e6 7c5ef0ba 960f5214 060e71eb 172a75fc
              1486835c bea65344 65b055c9 6a72e410 52241823 25d83041 4b40214d aa8091d2
              e0fb010a e15c6de9 0850973b df1e423b e148a237 b87a0c9f 34d4b476 05b803d7
              43a86a90 399a4af3 96d3a120 0a62f3d9 507962e8 e5bee6d3 da2bb3f7 237664ac
              7a292823 900bc635 03b29e80 d63f6067 bf8e1716 ac25beba 350deb62 a99fe031
              85eb4f69 937ecd38 7941fda5 44ba67db 09117749 38b01827 bcc69c92 b3f772a9
              d2859ef0 03398b1f 6bbad7b5 74f7989a 1d10b2df 798e0dbf 30d65874 64d24878
              cd00c0ea ee8a1a0c c753a279 79e11b41 db1de3d5 038afaf4 9f5c682c 3748d8a3
              a9ec54e6 a371275f 1683510f 8e4f9093 8f9ab6e1 34c2cfdf 4841cba8 8e0cff2b
              0bcc8e6a dcb71109 b5198fec f1bb7e5c 531aca50 a56a8a3b 6de59862 d41fa113
              d9cd9578 08f08571 d9a4bb79 2af271f6 cc6dbb8d c7ec36e3 6be1ed30 8164c31c
              7c0afc54 1c000000""", "0ca12792"),
]
# fmt: on

CIPHER_CASES = [
    *((CipheringAlgorithm.EEA1, s) for s in EEA1_SETS),
    *((CipheringAlgorithm.EEA2, s) for s in EEA2_SETS),
    *((CipheringAlgorithm.EEA3, s) for s in EEA3_SETS),
]
MAC_CASES = [
    *((IntegrityAlgorithm.EIA1, s) for s in EIA1_SETS),
    *((IntegrityAlgorithm.EIA2, s) for s in EIA2_SETS),
    *((IntegrityAlgorithm.EIA3, s) for s in EIA3_SETS),
]


def case_id(case: tuple[int, CipherSet | MacSet]) -> str:
    algorithm, test_set = case
    return f"{algorithm.name} {test_set.name}"


@pytest.mark.parametrize("case", CIPHER_CASES, ids=[case_id(c) for c in CIPHER_CASES])
def test_ciphering_matches_published_set(case: tuple[int, CipherSet]) -> None:
    algorithm, s = case
    key, plaintext, ciphertext = h(s.key), h(s.plaintext), h(s.ciphertext)
    encrypted = cipher(algorithm, key, s.count, s.bearer, s.direction, plaintext, s.length)
    assert encrypted.hex() == clear_spare_bits(ciphertext, s.length).hex()
    decrypted = cipher(algorithm, key, s.count, s.bearer, s.direction, ciphertext, s.length)
    assert decrypted.hex() == clear_spare_bits(plaintext, s.length).hex()


@pytest.mark.parametrize("case", MAC_CASES, ids=[case_id(c) for c in MAC_CASES])
def test_mac_matches_published_set(case: tuple[int, MacSet]) -> None:
    algorithm, s = case
    mac = compute_mac(algorithm, h(s.key), s.count, s.bearer, s.direction, h(s.message), s.length)
    assert mac.hex() == s.mac


def test_uia2_set_6_on_the_long_message() -> None:
    key = h("b3120ffdb2cf6af4e73eaf2ef4ebec69")
    assert f9(key, 0x296F393C, 0x6B227737, 1, h(LONG_MESSAGE), 16448).hex() == "179f2fa6"


@pytest.mark.parametrize("algorithm", list(IntegrityAlgorithm), ids=lambda a: a.name)
def test_mac_changes_when_any_input_changes(algorithm: IntegrityAlgorithm) -> None:
    s = EIA2_SETS[4]
    base = (h(s.key), s.count, s.bearer, s.direction, h(s.message), s.length)
    reference = compute_mac(algorithm, *base)
    variants = [
        (h("00" * 16), *base[1:]),
        (base[0], base[1] ^ 1, *base[2:]),
        (*base[:2], base[2] ^ 1, *base[3:]),
        (*base[:3], base[3] ^ 1, *base[4:]),
        (*base[:4], b"\x01" + base[4][1:], base[5]),
    ]
    macs = {compute_mac(algorithm, *variant) for variant in variants}
    if algorithm == IntegrityAlgorithm.EIA0:
        assert macs == {reference} == {bytes(4)}
    else:
        assert reference not in macs


def test_eea0_is_the_identity_and_clears_spare_bits() -> None:
    data = h("0123456789abcdef")
    assert cipher(CipheringAlgorithm.EEA0, bytes(16), 1, 2, 1, data) == data
    assert cipher(CipheringAlgorithm.EEA0, bytes(16), 1, 2, 1, data, 60) == h("0123456789abcde0")


def test_unknown_algorithm_numbers_are_refused() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        cipher(4, bytes(16), 0, 0, 0, b"x")
    with pytest.raises(UnsupportedAlgorithm):
        compute_mac(7, bytes(16), 0, 0, 0, b"x")


def test_direction_values_are_the_33401_bits() -> None:
    assert (Direction.UPLINK, Direction.DOWNLINK) == (0, 1)


# --- the bit-granular CMAC used for non-byte-aligned EIA2 -----------------------------------

NIST_KEY = "2b7e151628aed2a6abf7158809cf4f3c"
NIST_MESSAGE = (
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)


@pytest.mark.parametrize(
    ("octets", "tag"),
    [
        (0, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (40, "dfa66747de9ae63030ca32611497c827"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ],
)
def test_bit_cmac_matches_nist_sp_800_38b_examples(octets: int, tag: str) -> None:
    # NIST SP 800-38B, D.1 (AES-128), as listed in hostapd src/crypto/crypto_module_tests.c.
    message = h(NIST_MESSAGE)[:octets]
    assert aes_cmac_bits(h(NIST_KEY), message, 8 * octets).hex() == tag


@pytest.mark.parametrize("octets", [0, 1, 15, 16, 17, 31, 32, 33, 100])
def test_bit_cmac_agrees_with_cryptography_on_whole_octets(octets: int) -> None:
    message = bytes(range(octets))
    reference = CMAC(aes_algorithms.AES(h(NIST_KEY)))
    reference.update(message)
    assert aes_cmac_bits(h(NIST_KEY), message, 8 * octets) == reference.finalize()
