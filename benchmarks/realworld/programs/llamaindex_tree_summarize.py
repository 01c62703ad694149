# ruff: noqa
"""Tree summarize (recursive) -- LlamaIndex's TreeSummarize response synthesizer.

Source: run-llama/llama_index, llama-index-core/llama_index/core/response_synthesizers/tree_summarize.py
(`TreeSummarize.get_response`, commit 60d589ed7674a2998a449e513d2e4b2f514db4fd), MIT
License, Copyright (c) Jerry Liu; the default prompt is DEFAULT_TREE_SUMMARIZE_TMPL from
llama_index/core/prompts/default_prompts.py.
Changed: the provider -- LlamaIndex's `LLM.predict(prompt, **kwargs)` is a small
`OpenAILLM` that formats the prompt and calls `client.chat.completions.create`; the
framework pieces `get_response` uses are minimal stand-ins written here (a
`PromptTemplate` with `partial_format` / `format`, and `PromptHelper.repack`, which packs
consecutive chunks into as few as fit a character budget -- LlamaIndex counts tokens).
`get_response` itself, including its async and structured-output branches, is verbatim.

Critical path: 3 LLM rounds. 8 chunks repack into 8 (each near the 500-character budget):
8 summary calls (independent); their 8 summaries (~130 characters) repack into 3: 3
calls; those 3 repack into 1: the final answer (12 requests).
Shape: recursion through the method's own name (`return self.get_response(...)`) with a
comprehension fan-out in each level; the jitted entry is the class attribute
`TreeSummarize.get_response`, so the recursive call goes through the jit.
"""
import asyncio
from typing import Any, Optional, Sequence

from openai import OpenAI

client = OpenAI()


# ---- stand-ins for the llama_index framework pieces (not the original code) -----------
class PromptTemplate:
    def __init__(self, template: str, **kwargs: Any) -> None:
        self.template = template
        self.kwargs = kwargs

    def partial_format(self, **kwargs: Any) -> "PromptTemplate":
        return PromptTemplate(self.template, **{**self.kwargs, **kwargs})

    def format(self, **kwargs: Any) -> str:
        return self.template.format(**{**self.kwargs, **kwargs})


class PromptHelper:
    def __init__(self, chunk_budget: int) -> None:
        self.chunk_budget = chunk_budget

    def repack(self, prompt: PromptTemplate, text_chunks: Sequence[str]) -> list:
        packed, current = [], ""
        for chunk in text_chunks:
            candidate = (current + "\n\n" + chunk) if current else chunk
            if current and len(candidate) > self.chunk_budget:
                packed.append(current)
                current = chunk
            else:
                current = candidate
        if current:
            packed.append(current)
        return packed


class OpenAILLM:
    def __init__(self, model: str = "gpt-4o-mini") -> None:
        self.model = model

    def predict(self, prompt: PromptTemplate, **prompt_args: Any) -> str:
        response = client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": prompt.format(**prompt_args)}],
        )
        return response.choices[0].message.content


DEFAULT_TREE_SUMMARIZE_TMPL = (
    "Context information from multiple sources is below.\n"
    "---------------------\n"
    "{context_str}\n"
    "---------------------\n"
    "Given the information from multiple sources and not prior knowledge, "
    "answer the query.\n"
    "Query: {query_str}\n"
    "Answer: "
)
DEFAULT_TREE_SUMMARIZE_PROMPT_SEL = PromptTemplate(DEFAULT_TREE_SUMMARIZE_TMPL)
RESPONSE_TEXT_TYPE = Any


# ---- llama_index/core/response_synthesizers/tree_summarize.py ---------------------------
class TreeSummarize:
    """
    Tree summarize response builder.

    This response builder recursively merges text chunks and summarizes them
    in a bottom-up fashion (i.e. building a tree from leaves to root).

    More concretely, at each recursively step:
    1. we repack the text chunks so that each chunk fills the context window of the LLM
    2. if there is only one chunk, we give the final response
    3. otherwise, we summarize each chunk and recursively summarize the summaries.
    """

    def __init__(
        self,
        llm=None,
        prompt_helper=None,
        summary_template=None,
        output_cls=None,
        streaming: bool = False,
        use_async: bool = False,
        verbose: bool = False,
    ) -> None:
        self._llm = llm
        self._prompt_helper = prompt_helper
        self._streaming = streaming
        self._output_cls = output_cls
        self._summary_template = summary_template or DEFAULT_TREE_SUMMARIZE_PROMPT_SEL
        self._use_async = use_async
        self._verbose = verbose

    def get_response(
        self,
        query_str: str,
        text_chunks: Sequence[str],
        **response_kwargs: Any,
    ) -> RESPONSE_TEXT_TYPE:
        """Get tree summarize response."""
        summary_template = self._summary_template.partial_format(query_str=query_str)
        # repack text_chunks so that each chunk fills the context window
        text_chunks = self._prompt_helper.repack(
            summary_template, text_chunks=text_chunks
        )

        if self._verbose:
            print(f"{len(text_chunks)} text chunks after repacking")

        # give final response if there is only one chunk
        if len(text_chunks) == 1:
            response: RESPONSE_TEXT_TYPE
            if self._streaming:
                response = self._llm.stream(
                    summary_template, context_str=text_chunks[0], **response_kwargs
                )
            else:
                if self._output_cls is None:
                    response = self._llm.predict(
                        summary_template,
                        context_str=text_chunks[0],
                        **response_kwargs,
                    )
                else:
                    response = self._llm.structured_predict(  # type: ignore
                        self._output_cls,
                        summary_template,
                        context_str=text_chunks[0],
                        **response_kwargs,
                    )

            return response

        else:
            # summarize each chunk
            if self._use_async:
                if self._output_cls is None:
                    tasks = [
                        self._llm.apredict(
                            summary_template,
                            context_str=text_chunk,
                            **response_kwargs,
                        )
                        for text_chunk in text_chunks
                    ]
                else:
                    tasks = [
                        self._llm.astructured_predict(  # type: ignore
                            self._output_cls,
                            summary_template,
                            context_str=text_chunk,
                            **response_kwargs,
                        )
                        for text_chunk in text_chunks
                    ]

                summary_responses = run_async_tasks(tasks)

                if self._output_cls is not None:
                    summaries = [
                        summary.model_dump_json() for summary in summary_responses
                    ]
                else:
                    summaries = summary_responses
            else:
                if self._output_cls is None:
                    summaries = [
                        self._llm.predict(
                            summary_template,
                            context_str=text_chunk,
                            **response_kwargs,
                        )
                        for text_chunk in text_chunks
                    ]
                else:
                    summaries = [
                        self._llm.structured_predict(  # type: ignore
                            self._output_cls,
                            summary_template,
                            context_str=text_chunk,
                            **response_kwargs,
                        )
                        for text_chunk in text_chunks
                    ]
                    summaries = [summary.model_dump_json() for summary in summaries]

            # recursively summarize the summaries
            return self.get_response(
                query_str=query_str, text_chunks=summaries, **response_kwargs
            )


# --- benchmark harness (not part of the original) -------------------------------------
from _support import last_user, words

CHUNKS = [f"Section {i}. " + words(f"section {i}", 60) for i in range(8)]
synthesizer = TreeSummarize(llm=OpenAILLM(), prompt_helper=PromptHelper(chunk_budget=500),
                            verbose=True)

ENTRY = "TreeSummarize.get_response"
ARGS = (synthesizer, "What does the report say about the harbor?", CHUNKS)
ROUNDS = 3


def reply(endpoint, body):
    prompt = last_user(body)
    context = prompt.split("---------------------\n")[1]
    return "Summary: " + words(context, 20)  # ~130 characters: three fit the budget
