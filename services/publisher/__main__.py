from services.publisher.main import main

main()
