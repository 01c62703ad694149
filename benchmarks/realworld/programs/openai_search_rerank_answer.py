# ruff: noqa
"""Question answering using a search API and re-ranking -- OpenAI cookbook (RAG).

Source: openai/openai-cookbook, examples/Question_answering_using_a_search_API.ipynb
(https://github.com/openai/openai-cookbook/blob/0960345fe92055ca9de08764a4bc15931757e110/examples/Question_answering_using_a_search_API.ipynb),
MIT License, Copyright (c) 2023 OpenAI: `json_gpt`, `embeddings`, `search_news` and the
notebook's cells (queries, searches, hypothetical answer, embeddings re-rank, streamed
answer), in order, as the body of `main()`.
Changed: the search endpoint -- `search_news` GETs the news-search URL from the
environment (SEARCH_API_URL) instead of https://newsapi.org/v2/everything, with the same
parameters; `tqdm.notebook.tqdm` is `tqdm.tqdm` (no Jupyter here); the final
`display.Markdown` re-rendering is a print of the accumulated text.

Critical path: 4 LLM/API rounds: query generation -> the searches (independent of each
other) -> one embeddings call for all articles -> the answer. The hypothetical answer
(round 1) and its embedding (round 2) run beside that path.
Shape: a loop that branches on each search result (`if result["status"] == "ok"`) and
rebinds `articles = articles + ...` (a loop-carried value that the calls do not read);
JSON parsing of fresh results (`json_gpt(...)["queries"]`); a streamed final answer.
"""
# Dependencies
from datetime import date, timedelta  # date handling for fetching recent news
import json  # for parsing the JSON api responses and model outputs
from numpy import dot  # for cosine similarity
from openai import OpenAI
import os  # for loading environment variables
import requests  # for making the API requests
from tqdm import tqdm  # for printing progress bars

client = OpenAI(api_key=os.environ.get("OPENAI_API_KEY", "<your OpenAI API key if not set as env var>"))

# Load environment variables
news_api_key = os.getenv("NEWS_API_KEY")

GPT_MODEL = "gpt-4o-mini"


# Helper functions
def json_gpt(input: str):
    completion = client.responses.create(
        model=GPT_MODEL,
        input=[
            {"role": "system", "content": "Output only valid JSON"},
            {"role": "user", "content": input},
        ],
        temperature=0.5,
        text={"format": {"type": "json_object"}},
    )

    text = completion.output_text
    parsed = json.loads(text)

    return parsed


def embeddings(input: list[str]) -> list[list[str]]:
    response = client.embeddings.create(model="text-embedding-3-small", input=input)
    return [data.embedding for data in response.data]


# User asks a question
USER_QUESTION = "Who won the NBA championship? And who was the MVP? Tell me a bit about the last game."


def search_news(
    query: str,
    news_api_key: str = news_api_key,
    num_articles: int = 50,
    from_datetime: str = "2023-06-01",  # the 2023 NBA finals were played in June 2023
    to_datetime: str = "2023-06-30",
) -> dict:
    response = requests.get(
        os.environ["SEARCH_API_URL"],
        params={
            "q": query,
            "apiKey": news_api_key,
            "pageSize": num_articles,
            "sortBy": "relevancy",
            "from": from_datetime,
            "to": to_datetime,
        },
    )

    return response.json()


def main():
    QUERIES_INPUT = f"""
You have access to a search API that returns recent news articles.
Generate an array of search queries that are relevant to this question.
Use a variation of related keywords for the queries, trying to be as general as possible.
Include as many queries as you can think of, including and excluding terms.
For example, include queries like ['keyword_1 keyword_2', 'keyword_1', 'keyword_2'].
Be creative. The more queries you include, the more likely you are to find relevant results.

User question: {USER_QUESTION}

Format: {{"queries": ["query_1", "query_2", "query_3"]}}
"""

    queries = json_gpt(QUERIES_INPUT)["queries"]

    # Let's include the original question as well for good measure
    queries.append(USER_QUESTION)

    articles = []

    for query in tqdm(queries):
        result = search_news(query)
        if result["status"] == "ok":
            articles = articles + result["articles"]
        else:
            raise Exception(result["message"])

    # remove duplicates
    articles = list({article["url"]: article for article in articles}.values())

    print("Total number of articles:", len(articles))
    print("Top 5 articles of query 1:", "\n")

    for article in articles[0:5]:
        print("Title:", article["title"])
        print("Description:", article["description"])
        print("Content:", article["content"][0:100] + "...")
        print()

    HA_INPUT = f"""
Generate a hypothetical answer to the user's question. This answer will be used to rank search results. 
Pretend you have all the information you need to answer, but don't use any actual facts. Instead, use placeholders
like NAME did something, or NAME said something at PLACE. 

User question: {USER_QUESTION}

Format: {{"hypotheticalAnswer": "hypothetical answer text"}}
"""

    hypothetical_answer = json_gpt(HA_INPUT)["hypotheticalAnswer"]

    hypothetical_answer_embedding = embeddings(hypothetical_answer)[0]
    article_embeddings = embeddings(
        [
            f"{article['title']} {article['description']} {article['content'][0:100]}"
            for article in articles
        ]
    )

    # Calculate cosine similarity
    cosine_similarities = []
    for article_embedding in article_embeddings:
        cosine_similarities.append(dot(hypothetical_answer_embedding, article_embedding))

    scored_articles = zip(articles, cosine_similarities)

    # Sort articles by cosine similarity
    sorted_articles = sorted(scored_articles, key=lambda x: x[1], reverse=True)

    # Print top 5 articles
    print("Top 5 articles:", "\n")

    for article, score in sorted_articles[0:5]:
        print("Title:", article["title"])
        print("Description:", article["description"])
        print("Content:", article["content"][0:100] + "...")
        print("Score:", score)
        print()

    formatted_top_results = [
        {
            "title": article["title"],
            "description": article["description"],
            "url": article["url"],
        }
        for article, _score in sorted_articles[0:5]
    ]

    ANSWER_INPUT = f"""
Generate an answer to the user's question based on the given search results. 
TOP_RESULTS: {formatted_top_results}
USER_QUESTION: {USER_QUESTION}

Include as much information as possible in the answer. Reference the relevant search result urls as markdown links.
"""

    completion = client.responses.create(
        model=GPT_MODEL,
        input=[{"role": "user", "content": ANSWER_INPUT}],
        temperature=0.5,
        stream=True,
    )

    text = ""
    for event in completion:
        if event.type == "response.output_text.delta":
            text += event.delta
    print(text)
    return text


# --- benchmark harness (not part of the original) -------------------------------------
import hashlib
import math
from _support import number, responses_text, words

ENTRY = "main"
ROUNDS = 4


def _vector(text):
    raw = [b - 128 for b in hashlib.sha256(text.encode()).digest()[:8]]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def reply(endpoint, body):
    if endpoint == "search":
        query = body["q"]
        articles = []
        for k in range(3):
            doc = number(query + str(k), 1, 9)  # shared ids across queries: duplicates
            articles.append({
                "url": f"https://news.example/{doc}",
                "title": f"Finals story {doc}: {words(str(doc), 4)}",
                "description": words(f"description {doc}", 12),
                "content": words(f"content {doc}", 30),
            })
        return {"status": "ok", "totalResults": 3, "articles": articles}
    if endpoint == "embeddings":
        given = body["input"]
        return [_vector(t) for t in ([given] if isinstance(given, str) else given)]
    text = responses_text(body)
    if "Generate an array of search queries" in text:
        return json.dumps({"queries": [words(text + str(i), 2) for i in range(5)]})
    if "Generate a hypothetical answer" in text:
        return json.dumps({"hypotheticalAnswer": "TEAM NAME won; " + words(text, 8)})
    return "The champion was TEAM: " + words(text, 20)
