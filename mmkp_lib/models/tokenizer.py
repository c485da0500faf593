"""A byte-level BPE tokenizer trained offline on the words a benchmark can write, with a ChatML chat template.

The tiny models have no pretrained tokenizer, so one is trained here with the
`tokenizers` library on *every* string the embedded benchmark's generator and
its oracle teacher can write (`benchmark_vocabulary()`: `mmkp_lib.synth.vocabulary()`,
not only the training split, and `teacher.oracle.oracle_texts()`), so a
keyphrase unseen in training is still one known piece and a rationale costs
about one token per word (1.23 per whitespace word on oracle CoT targets,
against 2.32 when the rationale's words were not in the corpus and shattered
into letters). Byte-level BPE still encodes any other text.

Pre-tokenisation (`PRETOKENIZE`) is GPT-2's, except that punctuation right
after a word stays with it (" text," is one piece), so BPE can learn the
oracle's "text," or "image;" as one token; a space, a newline, a quote and a
run of other symbols are pieces of their own.

Special tokens (never produced by BPE merges):

    <pad>            padding (pad_token)
    <|im_start|>     start of a chat turn
    <|im_end|>       end of a chat turn = eos_token: generation stops on it
    <image>          LLaVA's image placeholder (the processor expands it)

`<think>`, `</think>`, `<answer>`, `</answer>` are added as single, *non*-special
tokens: they survive `decode(..., skip_special_tokens=True)`, so the output
parser sees them.

The chat template is ChatML; an image item renders as the model family's image
markup (`<image>` for LLaVA). A rendered prompt ends with "<|im_start|>assistant\n";
a training target is that prompt + target + eos_token (see `completion_text`).

    >>> tok = train_tokenizer(["red circle", "beach"], vocab_size=400)
    >>> tok.apply_chat_template(student_messages("hi"), add_generation_prompt=True, tokenize=False)
    '<|im_start|>user\\n<image>hi\\nWhat phrases should be used to tag the media?<|im_end|>\\n<|im_start|>assistant\\n'
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from mmkp_lib.prompts import INSTRUCTION, SPECIAL_TAGS

PAD, IM_START, IM_END, IMAGE = "<pad>", "<|im_start|>", "<|im_end|>", "<image>"
BASE_SPECIAL_TOKENS = (PAD, IM_START, IM_END, IMAGE)
# GPT-2's split with trailing punctuation kept on its word (see the module docstring); "v1" builds used GPT-2's own.
PRETOKENIZE = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+[.,;:!?]*| ?\p{N}+[.,;:!?]*| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
TOKENIZERS = ("v1", "v2")  # v1: GPT-2 pre-tokenisation, post words only; v2: PRETOKENIZE, post and oracle words


def chat_template(image_markup: str = IMAGE, default_system: str | None = None) -> str:
    """ChatML as a Jinja string; `image_markup` is what one image item renders to.

    transformers renders templates with trim_blocks/lstrip_blocks, so the
    newlines that matter follow `}}` or plain text, never a `%}`.
    `default_system` (e.g. SmolLM2's own system line) is used when the
    conversation has no system message.
    """
    system = ""
    if default_system:
        system = ("{% if messages[0]['role'] != 'system' %}" + IM_START + "system\n"
                  + default_system.replace("'", "\\'") + IM_END + "\n{% endif %}")
    return (
        system
        + "{% for message in messages %}" + IM_START + "{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for item in message['content'] %}"
        "{% if item['type'] == 'image' %}" + image_markup
        + "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
        "{% endfor %}{% endif %}" + IM_END + "\n"
        "{% endfor %}"
        "{% if add_generation_prompt %}" + IM_START + "assistant\n{% endif %}"
    )


def completion_text(prompt: str, target: str, eos_token: str = IM_END) -> str:
    """The full training text: a prompt rendered with add_generation_prompt=True, the target, then eos.

    Tokenizing the result starts with exactly the prompt's tokens (the prompt
    ends with a newline, where byte-level pre-tokenisation always splits), so
    a collator can mask the first len(tokenize(prompt)) tokens.
    """
    return f"{prompt}{target}{eos_token}"


def training_corpus(words: Iterable[str], extra_texts: Iterable[str] = ()) -> list[str]:
    """Texts to train BPE on: each word alone and after a space (the two ways it appears), plus scaffolding.

    Multi-word strings are split, so a phrase's words become tokens and the
    tokenizer does not spend merges on whole phrases.
    """
    pieces: set[str] = set()
    for text in list(words) + [INSTRUCTION, "user", "assistant", "system", "; ", "\n", *extra_texts]:
        for w in str(text).split():
            pieces.add(w)
            pieces.add(" " + w)
    return sorted(pieces)


def train_tokenizer(
    words: Iterable[str],
    *,
    vocab_size: int = 4096,
    extra_texts: Iterable[str] = (),
    extra_special_tokens: Sequence[str] = (),
    image_markup: str = IMAGE,
    default_system: str | None = None,
    version: str = "v2",
):
    """Train a byte-level BPE on `words` and wrap it as a transformers fast tokenizer.

    `vocab_size` is a cap: BPE stops once every corpus piece is one token (about 2.4k for the benchmark).
    `extra_special_tokens`: model-family tokens (e.g. Qwen's <|vision_start|>,
    <|image_pad|>); `image_markup`: what an image item renders to in the chat
    template; `version`: TOKENIZERS. Deterministic: the corpus is sorted and BPE training is
    deterministic for a given corpus.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if version not in TOKENIZERS:
        raise ValueError(f"tokenizer version {version!r}: one of {', '.join(TOKENIZERS)}")
    specials = list(BASE_SPECIAL_TOKENS) + [t for t in extra_special_tokens if t not in BASE_SPECIAL_TOKENS]
    bpe = Tokenizer(models.BPE())
    # add_prefix_space=False: the chat template decides spacing; "red" and " red" are both trained.
    if version == "v1":
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        bpe.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(PRETOKENIZE), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable
        show_progress=False,
    )
    bpe.train_from_iterator(training_corpus(words, extra_texts), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token=PAD, eos_token=IM_END, bos_token=None, unk_token=None,
    )
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in SPECIAL_TAGS])
    tok.chat_template = chat_template(image_markup, default_system)
    return tok


def benchmark_vocabulary(version: str = "v2") -> list[str]:
    """Every string the embedded benchmark's generator can write (mmkp_lib.synth.vocabulary()) and, for "v2",
    every wording of its oracle teacher (mmkp_lib.teacher.oracle.oracle_texts())."""
    from mmkp_lib.synth import vocabulary

    if version == "v1":
        return list(vocabulary())
    from mmkp_lib.teacher.oracle import oracle_texts

    return list(vocabulary()) + oracle_texts()
