# ruff: noqa
"""LLM Council (3 stages: answers, anonymous peer ranking, chairman) -- karpathy/llm-council.

Source: karpathy/llm-council (MIT License), as stored in the fork AsyaPronina/llm-council
at commit 6acd7b46398972ea0c2cba7b2c894fbe6915536a: `backend/openrouter.py` and
`backend/council.py` (code verbatim, docstrings shortened; that fork adds the `seed` and
`response_format` lines);
`backend/storage.py` (JSON files, from the fork LathDevers/llm-council at commit
22f960d2a4b7736581e7f65274568d154f35eb2b), `backend/config.py`'s constants and the
`create_conversation` / `send_message` endpoints of `backend/main.py` (the non-streaming
endpoint, as in karpathy's original: title first, then the council).
Changed: the provider -- `OPENROUTER_API_URL` is `$OPENAI_BASE_URL/chat/completions`
(the real `httpx.AsyncClient` still posts the author's payload), the key is
OPENAI_API_KEY; `DATA_DIR` is a fresh temporary directory per module load instead of
`data/conversations`; FastAPI's decorators are dropped (the endpoints are the author's
coroutines, called directly) and `HTTPException` is a local stand-in class; the five
modules are one file. The entry is the endpoint `send_message` on a fresh conversation.
(A client `main()` that also reads the saved conversation back after `await send_message`
gets a stale file under the jit: see the corpus findings.)

Critical path: 3 LLM rounds. The title (1 call) needs only the question, so it shares a
round with stage 1 (4 models, the author's asyncio.gather); stage 2 (4 rankings,
gather) needs stage 1; the chairman needs stages 1 and 2. Plain takes 4 rounds: the
endpoint awaits the title before it starts the council.
Shape: async; `httpx.AsyncClient` in `async with` per request; the author's gather in a
helper; the independent title call awaited first and its result written to a JSON file
(`storage.update_conversation_title`) before the council starts; regex parsing of the
rankings.
"""
import asyncio
import json
import os
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from typing import List, Dict, Any, Optional, Tuple
from pydantic import BaseModel

# --- backend/config.py ------------------------------------------------------------------
OPENROUTER_API_KEY = os.getenv("OPENAI_API_KEY")

# Council members - list of OpenRouter model identifiers
COUNCIL_MODELS = [
    "openai/gpt-5.1",
    "google/gemini-3-pro-preview",
    "anthropic/claude-sonnet-4.5",
    "x-ai/grok-4",
]

# Chairman model - synthesizes final response
CHAIRMAN_MODEL = "google/gemini-3-pro-preview"

# OpenRouter API endpoint
OPENROUTER_API_URL = os.environ.get("OPENAI_BASE_URL", "https://openrouter.ai/api/v1") + "/chat/completions"

# Data directory for conversation storage
DATA_DIR = tempfile.mkdtemp(prefix="llm_council_")


# --- backend/openrouter.py --------------------------------------------------------------
async def query_model(
    model: str,
    messages: List[Dict[str, str]],
    timeout: float = 120.0,
    response_format = None
) -> Optional[Dict[str, Any]]:
    """
    Query a single model via OpenRouter API.

    Args:
        model: OpenRouter model identifier (e.g., "openai/gpt-4o")
        messages: List of message dicts with 'role' and 'content'
        timeout: Request timeout in seconds

    Returns:
        Response dict with 'content' and optional 'reasoning_details', or None if failed
    """
    headers = {
        "Authorization": f"Bearer {OPENROUTER_API_KEY}",
        "Content-Type": "application/json",
    }

    payload = {
        "model": model,
        "messages": messages,
        "seed": 42
    }
    if response_format != None:
        payload["response_format"] = response_format

    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(
                OPENROUTER_API_URL,
                headers=headers,
                json=payload
            )
            response.raise_for_status()

            data = response.json()
            message = data['choices'][0]['message']

            return {
                'content': message.get('content'),
                'reasoning_details': message.get('reasoning_details')
            }

    except Exception as e:
        print(f"Error querying model {model}: {e}")
        return None


async def query_models_parallel(
    models: List[str],
    messages: List[Dict[str, str]]
) -> Dict[str, Optional[Dict[str, Any]]]:
    """
    Query multiple models in parallel.

    Args:
        models: List of OpenRouter model identifiers
        messages: List of message dicts to send to each model

    Returns:
        Dict mapping model identifier to response dict (or None if failed)
    """
    import asyncio

    # Create tasks for all models
    tasks = [query_model(model, messages) for model in models]

    # Wait for all to complete
    responses = await asyncio.gather(*tasks)

    # Map models to their responses
    return {model: response for model, response in zip(models, responses)}


# --- backend/council.py -----------------------------------------------------------------
async def stage1_collect_responses(user_query: str) -> List[Dict[str, Any]]:
    """
    Stage 1: Collect individual responses from all council models.
    """
    messages = [{"role": "user", "content": user_query}]

    # Query all models in parallel
    responses = await query_models_parallel(COUNCIL_MODELS, messages)

    # Format results
    stage1_results = []
    for model, response in responses.items():
        if response is not None:  # Only include successful responses
            stage1_results.append({
                "model": model,
                "response": response.get('content', '')
            })

    return stage1_results


async def stage2_collect_rankings(
    user_query: str,
    stage1_results: List[Dict[str, Any]]
) -> Tuple[List[Dict[str, Any]], Dict[str, str]]:
    """
    Stage 2: Each model ranks the anonymized responses.
    """
    # Create anonymized labels for responses (Response A, Response B, etc.)
    labels = [chr(65 + i) for i in range(len(stage1_results))]  # A, B, C, ...

    # Create mapping from label to model name
    label_to_model = {
        f"Response {label}": result['model']
        for label, result in zip(labels, stage1_results)
    }

    # Build the ranking prompt
    responses_text = "\n\n".join([
        f"Response {label}:\n{result['response']}"
        for label, result in zip(labels, stage1_results)
    ])

    ranking_prompt = f"""You are evaluating different responses to the following question:

Question: {user_query}

Here are the responses from different models (anonymized):

{responses_text}

Your task:
1. First, evaluate each response individually. For each response, explain what it does well and what it does poorly.
2. Then, at the very end of your response, provide a final ranking.

IMPORTANT: Your final ranking MUST be formatted EXACTLY as follows:
- Start with the line "FINAL RANKING:" (all caps, with colon)
- Then list the responses from best to worst as a numbered list
- Each line should be: number, period, space, then ONLY the response label (e.g., "1. Response A")
- Do not add any other text or explanations in the ranking section

Example of the correct format for your ENTIRE response:

Response A provides good detail on X but misses Y...
Response B is accurate but lacks depth on Z...
Response C offers the most comprehensive answer...

FINAL RANKING:
1. Response C
2. Response A
3. Response B

Now provide your evaluation and ranking:"""

    messages = [{"role": "user", "content": ranking_prompt}]

    # Get rankings from all council models in parallel
    responses = await query_models_parallel(COUNCIL_MODELS, messages)

    # Format results
    stage2_results = []
    for model, response in responses.items():
        if response is not None:
            full_text = response.get('content', '')
            parsed = parse_ranking_from_text(full_text)
            stage2_results.append({
                "model": model,
                "ranking": full_text,
                "parsed_ranking": parsed
            })

    return stage2_results, label_to_model


async def stage3_synthesize_final(
    user_query: str,
    stage1_results: List[Dict[str, Any]],
    stage2_results: List[Dict[str, Any]],
    response_format=None
) -> Dict[str, Any]:
    """
    Stage 3: Chairman synthesizes final response.
    """
    # Build comprehensive context for chairman
    stage1_text = "\n\n".join([
        f"Model: {result['model']}\nResponse: {result['response']}"
        for result in stage1_results
    ])

    stage2_text = "\n\n".join([
        f"Model: {result['model']}\nRanking: {result['ranking']}"
        for result in stage2_results
    ])

    chairman_prompt = f"""You are the Chairman of an LLM Council. Multiple AI models have provided responses to a user's question, and then ranked each other's responses.

Original Question: {user_query}

STAGE 1 - Individual Responses:
{stage1_text}

STAGE 2 - Peer Rankings:
{stage2_text}

Your task as Chairman is to synthesize all of this information into a single, comprehensive, accurate answer to the user's original question. Consider:
- The individual responses and their insights
- The peer rankings and what they reveal about response quality
- Any patterns of agreement or disagreement

Provide a clear, well-reasoned final answer that represents the council's collective wisdom:"""

    messages = [{"role": "user", "content": chairman_prompt}]

    # Query the chairman model
    response = await query_model(CHAIRMAN_MODEL, messages, response_format=response_format)

    if response is None:
        # Fallback if chairman fails
        return {
            "model": CHAIRMAN_MODEL,
            "response": "Error: Unable to generate final synthesis."
        }

    return {
        "model": CHAIRMAN_MODEL,
        "response": response.get('content', '')
    }


def parse_ranking_from_text(ranking_text: str) -> List[str]:
    """
    Parse the FINAL RANKING section from the model's response.
    """
    import re

    # Look for "FINAL RANKING:" section
    if "FINAL RANKING:" in ranking_text:
        # Extract everything after "FINAL RANKING:"
        parts = ranking_text.split("FINAL RANKING:")
        if len(parts) >= 2:
            ranking_section = parts[1]
            # Try to extract numbered list format (e.g., "1. Response A")
            # This pattern looks for: number, period, optional space, "Response X"
            numbered_matches = re.findall(r'\d+\.\s*Response [A-Z]', ranking_section)
            if numbered_matches:
                # Extract just the "Response X" part
                return [re.search(r'Response [A-Z]', m).group() for m in numbered_matches]

            # Fallback: Extract all "Response X" patterns in order
            matches = re.findall(r'Response [A-Z]', ranking_section)
            return matches

    # Fallback: try to find any "Response X" patterns in order
    matches = re.findall(r'Response [A-Z]', ranking_text)
    return matches


def calculate_aggregate_rankings(
    stage2_results: List[Dict[str, Any]],
    label_to_model: Dict[str, str]
) -> List[Dict[str, Any]]:
    """
    Calculate aggregate rankings across all models.
    """
    from collections import defaultdict

    # Track positions for each model
    model_positions = defaultdict(list)

    for ranking in stage2_results:
        ranking_text = ranking['ranking']

        # Parse the ranking from the structured format
        parsed_ranking = parse_ranking_from_text(ranking_text)

        for position, label in enumerate(parsed_ranking, start=1):
            if label in label_to_model:
                model_name = label_to_model[label]
                model_positions[model_name].append(position)

    # Calculate average position for each model
    aggregate = []
    for model, positions in model_positions.items():
        if positions:
            avg_rank = sum(positions) / len(positions)
            aggregate.append({
                "model": model,
                "average_rank": round(avg_rank, 2),
                "rankings_count": len(positions)
            })

    # Sort by average rank (lower is better)
    aggregate.sort(key=lambda x: x['average_rank'])

    return aggregate


async def generate_conversation_title(user_query: str) -> str:
    """
    Generate a short title for a conversation based on the first user message.
    """
    title_prompt = f"""Generate a very short title (3-5 words maximum) that summarizes the following question.
The title should be concise and descriptive. Do not use quotes or punctuation in the title.

Question: {user_query}

Title:"""

    messages = [{"role": "user", "content": title_prompt}]

    # Use gemini-2.5-flash for title generation (fast and cheap)
    response = await query_model("google/gemini-2.5-flash", messages, timeout=30.0)

    if response is None:
        # Fallback to a generic title
        return "New Conversation"

    title = response.get('content', 'New Conversation').strip()

    # Clean up the title - remove quotes, limit length
    title = title.strip('"\'')

    # Truncate if too long
    if len(title) > 50:
        title = title[:47] + "..."

    return title


async def run_full_council(user_query: str, response_format=None) -> Tuple[List, List, Dict, Dict]:
    """
    Run the complete 3-stage council process.
    """
    # Stage 1: Collect individual responses
    stage1_results = await stage1_collect_responses(user_query)

    # If no models responded successfully, return error
    if not stage1_results:
        return [], [], {
            "model": "error",
            "response": "All models failed to respond. Please try again."
        }, {}

    # Stage 2: Collect rankings
    stage2_results, label_to_model = await stage2_collect_rankings(user_query, stage1_results)

    # Calculate aggregate rankings
    aggregate_rankings = calculate_aggregate_rankings(stage2_results, label_to_model)

    # Stage 3: Synthesize final answer
    stage3_result = await stage3_synthesize_final(
        user_query,
        stage1_results,
        stage2_results,
        response_format=response_format
    )

    # Prepare metadata
    metadata = {
        "label_to_model": label_to_model,
        "aggregate_rankings": aggregate_rankings
    }

    return stage1_results, stage2_results, stage3_result, metadata


# --- backend/storage.py -----------------------------------------------------------------
class storage:  # the module `backend.storage`, as a namespace
    def ensure_data_dir():
        """Ensure the data directory exists."""
        Path(DATA_DIR).mkdir(parents=True, exist_ok=True)

    def get_conversation_path(conversation_id: str) -> str:
        """Get the file path for a conversation."""
        return os.path.join(DATA_DIR, f"{conversation_id}.json")

    def create_conversation(conversation_id: str) -> Dict[str, Any]:
        """Create a new conversation."""
        storage.ensure_data_dir()

        conversation = {"id": conversation_id, "created_at": datetime.utcnow().isoformat(), "title": "New Conversation", "messages": []}

        # Save to file
        path = storage.get_conversation_path(conversation_id)
        with open(path, "w") as f:
            json.dump(conversation, f, indent=2)

        return conversation

    def get_conversation(conversation_id: str) -> Optional[Dict[str, Any]]:
        """Load a conversation from storage."""
        path = storage.get_conversation_path(conversation_id)

        if not os.path.exists(path):
            return None

        with open(path, "r") as f:
            return json.load(f)

    def save_conversation(conversation: Dict[str, Any]):
        """Save a conversation to storage."""
        storage.ensure_data_dir()

        path = storage.get_conversation_path(conversation["id"])
        with open(path, "w") as f:
            json.dump(conversation, f, indent=2)

    def add_user_message(conversation_id: str, content: str):
        """Add a user message to a conversation."""
        conversation = storage.get_conversation(conversation_id)
        if conversation is None:
            raise ValueError(f"Conversation {conversation_id} not found")

        conversation["messages"].append({"role": "user", "content": content})

        storage.save_conversation(conversation)

    def add_assistant_message(conversation_id: str, stage1, stage2, stage3):
        """Add an assistant message with all 3 stages to a conversation."""
        conversation = storage.get_conversation(conversation_id)
        if conversation is None:
            raise ValueError(f"Conversation {conversation_id} not found")

        conversation["messages"].append({"role": "assistant", "stage1": stage1, "stage2": stage2, "stage3": stage3})

        storage.save_conversation(conversation)

    def update_conversation_title(conversation_id: str, title: str):
        """Update the title of a conversation."""
        conversation = storage.get_conversation(conversation_id)
        if conversation is None:
            raise ValueError(f"Conversation {conversation_id} not found")

        conversation["title"] = title
        storage.save_conversation(conversation)


# --- backend/main.py (the two endpoints a client uses) -----------------------------------
class HTTPException(Exception):  # stand-in for fastapi.HTTPException
    def __init__(self, status_code, detail):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class CreateConversationRequest(BaseModel):
    """Request to create a new conversation."""
    pass


class SendMessageRequest(BaseModel):
    """Request to send a message in a conversation."""
    content: str


async def create_conversation(request: CreateConversationRequest):
    """Create a new conversation."""
    conversation_id = str(uuid.uuid4())
    conversation = storage.create_conversation(conversation_id)
    return conversation


async def send_message(conversation_id: str, request: SendMessageRequest):
    """
    Send a message and run the 3-stage council process.
    Returns the complete response with all stages.
    """
    # Check if conversation exists
    conversation = storage.get_conversation(conversation_id)
    if conversation is None:
        raise HTTPException(status_code=404, detail="Conversation not found")

    # Check if this is the first message
    is_first_message = len(conversation["messages"]) == 0

    # Add user message
    storage.add_user_message(conversation_id, request.content)

    # If this is the first message, generate a title
    if is_first_message:
        title = await generate_conversation_title(request.content)
        storage.update_conversation_title(conversation_id, title)

    # Run the 3-stage council process
    stage1_results, stage2_results, stage3_result, metadata = await run_full_council(
        request.content
    )

    # Add assistant message with all stages
    storage.add_assistant_message(
        conversation_id,
        stage1_results,
        stage2_results,
        stage3_result
    )

    # Return the complete response with metadata
    return {
        "stage1": stage1_results,
        "stage2": stage2_results,
        "stage3": stage3_result,
        "metadata": metadata
    }


# --- benchmark harness (not part of the original) ---------------------------------------
from _support import digest, words

ENTRY = "send_message"
ROUNDS = 3
QUESTION = "What is the most underrated idea in computer science?"


def ARGS():
    """A fresh conversation per call (the client's `POST /api/conversations` first)."""
    conversation = storage.create_conversation(str(uuid.uuid4()))
    return conversation["id"], SendMessageRequest(content=QUESTION)


def reply(endpoint, body):
    model = body["model"]
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("Generate a very short title"):
        return '"Underrated ' + words(prompt, 3).title() + '"'
    if prompt.startswith("You are evaluating different responses"):
        order = sorted("ABCD", key=lambda label: digest(model + label))
        ranking = "\n".join(f"{i}. Response {label}" for i, label in enumerate(order, 1))
        return f"Response A is {words(model + prompt, 4)}.\n\nFINAL RANKING:\n{ranking}"
    if prompt.startswith("You are the Chairman"):
        return "The council agrees: " + words(prompt, 12)
    return f"{model} says: " + words(model + prompt, 10)
