"""The registry of known I/O: which clients, functions and methods wait on the network.

Three kinds of entries, all matched by name so that nothing here imports the libraries:

* `Package` - every function and method defined under a module prefix does I/O, and
  the package's objects are *clients* (``openai``, ``httpx``, database drivers). Right
  for SDKs that are nothing but a network client.
* `Methods` - a class (``module.QualName``; its subclasses too) whose *named* methods
  do I/O. For frameworks that mix I/O with pure CPU helpers: LangChain's
  ``BaseChatModel.invoke`` waits on a model, ``PromptTemplate.format`` and
  ``StrOutputParser.parse`` only compute. ``contains=True`` makes the methods I/O only
  when the object holds an I/O object among its attributes (a LangChain chain:
  ``prompt | llm | parser``), found by a bounded walk of them (`holds_io`).
* `Functions` - named functions of one module (``litellm.completion``), where the rest
  of the package is helpers (``litellm.token_counter``).

``shareable`` says whether one object may serve concurrent calls from several threads
(checked against each library's documentation or its own concurrent use; the comment
on each entry says where). Calls on a receiver that is not shareable keep program
order: a deferred call borrows it, and the next use of it waits (see docs/DESIGN.md).
Users add entries with `wavejit.register_io`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Package", "Methods", "Functions", "PACKAGES", "METHODS", "FUNCTIONS",
           "IO_PREFIXES", "SAFE_PREFIXES", "ORDERED_WRITE_PREFIXES", "is_write_name", "methods_of", "method_entry", "holds_io",
           "function_entry", "add_methods", "clear_caches"]


@dataclass(frozen=True)
class Package:
    prefix: str
    shareable: bool
    ordered_writes: bool = False  # a store: its writes keep program order (`is_write`)


@dataclass(frozen=True)
class Methods:
    cls: str  # "module.QualName" of the class that defines the interface
    methods: frozenset[str] | None  # None: every public method
    shareable: bool
    contains: bool = False  # I/O only when the object holds an I/O object
    writes: frozenset[str] = frozenset()  # methods that change what later calls read

    @property
    def label(self) -> str:
        return self.cls.rpartition(".")[2]


@dataclass(frozen=True)
class Functions:
    module: str
    names: frozenset[str]


def _m(*names: str) -> frozenset[str]:
    return frozenset(names)


# LangChain's Runnable entry points (sync, async, streaming, batched).
_RUNNABLE = _m("invoke", "ainvoke", "batch", "abatch", "batch_as_completed",
               "abatch_as_completed", "stream", "astream", "astream_events", "astream_log",
               "transform", "atransform")

PACKAGES: list[Package] = [
    # HTTP clients: a connection pool behind a lock; the documented way to use them is
    # one client shared by the whole program (httpx "Clients": use one Client instance;
    # requests.Session, urllib3.PoolManager: pools shared across threads).
    Package("httpx", True), Package("requests", True), Package("urllib3", True),
    Package("aiohttp", True),
    Package("urllib.request", False), Package("http.client", False),  # one connection each
    Package("socket", False), Package("ssl", False),
    # LLM SDKs built on one httpx client (openai, anthropic, mistralai, groq, cohere,
    # google-genai): their docs show one client created at start-up and reused, and
    # openai's README states the client is thread-safe to share.
    Package("openai", True), Package("anthropic", True), Package("mistralai", True),
    Package("groq", True), Package("cohere", True), Package("google.genai", True),
    Package("google.cloud", False),  # many services; some clients hold streams
    # AWS: botocore clients (boto3.client("bedrock-runtime") is one) are thread-safe
    # once created; boto3 sessions and resources are not (boto3 guide, "Multithreading
    # or multiprocessing with clients"; boto/boto3#1592).
    Package("botocore", True), Package("boto3", False),
    # Vector stores and search, all HTTP / gRPC clients over pools: Elasticsearch
    # ("thread safety across requests", elasticsearch-py README; OpenSearch's client
    # is its fork), Pinecone (one Index shared by its own pool_threads upserts),
    # Qdrant (remote client over httpx / gRPC; the local path= mode is not thread-safe,
    # qdrant/qdrant-client#367), Chroma (HttpClient; "Chroma is thread safe",
    # chroma-core/chroma#1215), Weaviate (v4 client; its batching is not thread-safe,
    # weaviate-python-client#1090, and stays in a `with` block, where nothing is
    # deferred across statements).
    # Their writes (`is_write`) stay in program order: a search deferred after an
    # upsert must not overtake it.
    Package("elasticsearch", True, True), Package("opensearchpy", True, True),
    Package("pinecone", True, True), Package("qdrant_client", True, True),
    Package("chromadb", True, True), Package("weaviate", True, True),
    # Database drivers: one connection runs one statement at a time and cursors,
    # pipelines and transactions are stateful, so calls on one object keep their order
    # (psycopg "Thread and process safety": share connections, not cursors; PyMySQL
    # threadsafety = 1).
    Package("psycopg", False), Package("psycopg2", False), Package("pymysql", False),
    Package("redis", False), Package("pymongo", False),
]

METHODS: list[Methods] = [
    # LangChain. Runnables are meant to be shared across threads: Runnable.batch's
    # default "runs invoke in parallel using a thread pool executor" on the one instance
    # (langchain_core.runnables.base.Runnable.batch). Models, retrievers, embeddings
    # and vector stores wait on the network; composites (RunnableSequence, Parallel,
    # Binding, WithFallbacks...) do when they hold one of those; prompt templates and
    # output parsers only compute (their `format` / `parse` are not listed, and their
    # `invoke` holds nothing that does I/O).
    Methods("langchain_core.language_models.base.BaseLanguageModel",
            _RUNNABLE | _m("generate", "agenerate", "generate_prompt", "agenerate_prompt",
                           "predict", "apredict", "predict_messages", "apredict_messages"),
            True),
    Methods("langchain_core.retrievers.BaseRetriever",
            _RUNNABLE | _m("get_relevant_documents", "aget_relevant_documents"), True),
    Methods("langchain_core.embeddings.embeddings.Embeddings",
            _m("embed_documents", "embed_query", "aembed_documents", "aembed_query"), True),
    Methods("langchain_core.vectorstores.base.VectorStore",
            _m("similarity_search", "asimilarity_search", "similarity_search_with_score",
               "asimilarity_search_with_score", "similarity_search_by_vector",
               "asimilarity_search_by_vector", "similarity_search_with_relevance_scores",
               "asimilarity_search_with_relevance_scores", "max_marginal_relevance_search",
               "amax_marginal_relevance_search", "search", "asearch", "get_by_ids",
               "aget_by_ids"), True,
            # A later search must see what these stored: they stay in program order.
            writes=_m("add_texts", "aadd_texts", "add_documents", "aadd_documents",
                      "delete", "adelete", "upsert", "aupsert")),
    Methods("langchain_core.runnables.base.Runnable", _RUNNABLE, True, contains=True),
    # LlamaIndex: LLMs, embeddings, retrievers and query engines; its own jobs run many
    # calls on one instance at once (llama_index.core.async_utils.run_jobs, the
    # SubQuestionQueryEngine's parallel sub-queries over one LLM).
    Methods("llama_index.core.base.llms.base.BaseLLM",
            _m("chat", "complete", "stream_chat", "stream_complete", "achat", "acomplete",
               "astream_chat", "astream_complete", "predict", "apredict", "stream",
               "astream", "structured_predict", "astructured_predict"), True),
    Methods("llama_index.core.base.embeddings.base.BaseEmbedding",
            _m("get_query_embedding", "aget_query_embedding", "get_text_embedding",
               "aget_text_embedding", "get_text_embedding_batch",
               "aget_text_embedding_batch", "get_agg_embedding_from_queries"), True),
    Methods("llama_index.core.base.base_retriever.BaseRetriever",
            _m("retrieve", "aretrieve"), True),
    Methods("llama_index.core.base.base_query_engine.BaseQueryEngine",
            _m("query", "aquery", "retrieve", "synthesize", "asynthesize"), True),
    # DSPy: an LM and any module (Predict, ChainOfThought, the program's own) call the
    # configured LM. dspy.Parallel and Evaluate(num_threads=...) run one module object
    # from many threads (dspy/predict/parallel.py); the settings are per thread,
    # inherited from the thread that started them. Module histories are appended in
    # completion order, as under dspy.Parallel.
    Methods("dspy.clients.base_lm.BaseLM", _m("__call__", "forward", "acall", "aforward"),
            True),
    Methods("dspy.primitives.module.Module", _m("__call__", "acall"), True),
    Methods("dspy.primitives.program.Module", _m("__call__", "acall"), True),  # dspy < 3
    # LiteLLM's Router: the proxy server shares one Router across all requests.
    Methods("litellm.router.Router",
            _m("completion", "acompletion", "embedding", "aembedding", "text_completion",
               "atext_completion", "image_generation", "aimage_generation", "responses",
               "aresponses", "rerank", "arerank"), True),
]

FUNCTIONS: list[Functions] = [
    # LiteLLM's module functions (module-level state is only its callbacks and caches;
    # the proxy server calls them concurrently). `token_counter`, `completion_cost` and
    # the rest of the package only compute.
    Functions("litellm", _m("completion", "acompletion", "embedding", "aembedding",
                            "text_completion", "atext_completion", "image_generation",
                            "aimage_generation", "transcription", "atranscription", "speech",
                            "aspeech", "moderation", "amoderation", "responses", "aresponses",
                            "rerank", "arerank", "batch_completion")),
]

# Method names of a store's writes (Package.ordered_writes): a deferred read issued
# after one must not overtake it, so they run inline, after the calls before them.
WRITE_PREFIXES = ("add", "upsert", "insert", "update", "delete", "remove", "create",
                  "drop", "recreate", "put", "index", "bulk", "set", "overwrite", "reset",
                  "modify", "persist", "clear", "import", "batch")
ORDERED_WRITE_PREFIXES: list[str] = [p.prefix for p in PACKAGES if p.ordered_writes]


def is_write_name(name: str) -> bool:
    """``upsert``, ``add_documents``, ``delete_collection``, ``aadd_texts``...: a write."""
    return name.startswith(WRITE_PREFIXES) or (
        name.startswith("a") and name[1:].startswith(WRITE_PREFIXES))


# Kept as flat lists for the prefix tests (`register_io("pkg")` appends to them).
IO_PREFIXES: list[str] = [p.prefix for p in PACKAGES]
SAFE_PREFIXES: list[str] = [p.prefix for p in PACKAGES if p.shareable]

_by_class: dict[str, Methods] = {}
_functions: dict[str, set[str]] = {}


def _index() -> None:
    _by_class.clear()
    for entry in METHODS:
        _by_class[entry.cls] = entry
    _functions.clear()
    for f in FUNCTIONS:
        _functions.setdefault(f.module, set()).update(f.names)


_index()


def add_methods(entry: Methods) -> None:
    """Register one more class entry (`wavejit.register_io(cls, methods=...)`)."""
    METHODS.append(entry)
    _index()
    clear_caches()


_methods_cache: dict[type, tuple[Methods, ...]] = {}


def methods_of(t: type) -> tuple[Methods, ...]:
    """The class entries matching type `t`, nearest class in its MRO first."""
    found = _methods_cache.get(t)
    if found is None:
        found = tuple(e for c in getattr(t, "__mro__", ())
                      if (e := _by_class.get(f"{c.__module__}.{c.__qualname__}")) is not None)
        _methods_cache[t] = found
    return found


def method_entry(t: type, name: str) -> Methods | None:
    """The entry that makes method `name` of a `t` object I/O, if one does."""
    for e in methods_of(t):
        if e.methods is None and not name.startswith("_") or (
                e.methods is not None and name in e.methods):
            return e
    return None


def function_entry(fn: Any) -> str | None:
    """The registered name of `fn` if it is a module-level I/O function
    (``litellm.completion``, defined in ``litellm.chat_completions.dispatch``)."""
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__name__", None)
    for registered in (module, module.partition(".")[0]):
        names = _functions.get(registered)
        if names is not None and name in names and getattr(fn, "__qualname__", name) == name:
            return f"{registered}.{name}"
    return None


# How deep `holds_io` looks into a composite's attributes (a chain's steps, a
# parallel map's branches, a binding's bound runnable, their lists and dicts), and how
# many values it looks at in all: a prompt holding a thousand few-shot examples must
# not cost a thousand steps per call (past the budget the chain counts as unknown,
# then measured like any callee).
HOLD_DEPTH = 4
HOLD_BUDGET = 256


def holds_io(obj: Any, is_io_object: Any, depth: int = HOLD_DEPTH) -> bool:
    """Does composite `obj` hold, among its attributes, an object whose calls do I/O?

    A bounded walk of ``vars(obj)`` (pydantic models keep their fields there) through
    lists, tuples and dict values; a nested composite is walked in turn. Strings and
    numbers end the walk at once.
    """
    try:
        fields = vars(obj).values()
    except TypeError:
        return False
    stack = [(v, depth) for v in fields]
    budget = HOLD_BUDGET
    while stack:
        budget -= 1
        if budget < 0:
            return False
        value, left = stack.pop()
        if value is None or isinstance(value, (str, bytes, int, float, bool)):
            continue
        if isinstance(value, (list, tuple)):
            if left > 0:
                stack.extend((v, left - 1) for v in value)
            continue
        if isinstance(value, dict):
            if left > 0:
                stack.extend((v, left - 1) for v in value.values())
            continue
        if is_io_object(value):
            return True
        entries = methods_of(type(value))
        if entries and entries[0].contains and left > 0:
            try:
                stack.extend((v, left - 1) for v in vars(value).values())
            except TypeError:
                pass
    return False


def clear_caches() -> None:
    _methods_cache.clear()
